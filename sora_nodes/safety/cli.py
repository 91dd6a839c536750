"""`sora safety check "PROMPT"` and `sora safety eval`: the prompt filter from the command line."""

import json

from .evaluate import evaluate_filter
from .filter import PromptSafetyError, check_prompt


def cmd_check(args) -> int:
    checked = check_prompt(args.prompt, use_embedding=not args.no_embedding)
    if checked.stage == "empty":
        # The same input error as `sora render ""`: exit status 2, not a verdict.
        raise PromptSafetyError(f'{checked.reason}, e.g. sora safety check "a red circle moving left"')
    verdict = checked.to_dict()
    if args.json:
        print(json.dumps(verdict, ensure_ascii=False))
    else:
        print("allowed" if verdict["allowed"] else f"rejected ({verdict['category']}): {verdict['reason']}")
    return 0 if verdict["allowed"] else 1


def cmd_eval(args) -> int:
    report = evaluate_filter(args.prompts, use_embedding=not args.no_embedding)
    print(json.dumps(report, indent=2 if not args.json else None, ensure_ascii=False))
    return 0


def add_parser(sub) -> None:
    safety = sub.add_parser("safety", help="the prompt safety filter: check a prompt, or score the filter")
    commands = safety.add_subparsers(dest="safety_command", required=True)
    check = commands.add_parser("check", help="is this prompt allowed? exit 0 allowed, 1 rejected")
    check.add_argument("prompt")
    evaluate = commands.add_parser("eval", help="precision/recall per category on the labelled prompt set")
    evaluate.add_argument("--prompts", default=None, help="a labelled .jsonl set (default: the shipped one)")
    for command, func in ((check, cmd_check), (evaluate, cmd_eval)):
        command.add_argument("--json", action="store_true")
        command.add_argument("--no-embedding", action="store_true", help="word lists only, without MiniLM")
        command.set_defaults(func=func)
