"""`sora recaption "PROMPT" [--seed N] [--json]`: show what the model will be conditioned on."""

import json
from dataclasses import asdict

from .parse import unknown_words
from .recaptioner import recaption


def cmd_recaption(args) -> int:
    r = recaption(args.prompt, seed=args.seed)
    if not args.json:
        print(r.text)
        return 0
    spec = None
    if r.spec is not None:
        spec = {
            "objects": [asdict(o) for o in r.spec.objects],
            "background": r.spec.background,
            "camera": r.spec.camera,
            "occlusion": r.spec.occlusion,
        }
    out = {"prompt": r.prompt, "text": r.text, "in_world": r.in_world, "spec": spec}
    out["unknown_words"] = list(unknown_words(r.prompt))
    print(json.dumps(out, indent=2))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("recaption", help="rewrite a short prompt in the detailed caption style the model knows")
    p.add_argument("prompt")
    p.add_argument("--seed", type=int, default=0, help="fills what the prompt leaves open (default 0)")
    p.add_argument("--json", action="store_true", help="print prompt, text, in_world, spec and unknown words")
    p.set_defaults(func=cmd_recaption)
