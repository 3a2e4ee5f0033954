"""Write ``responder iam-policy`` for the shipped playbooks into both templates.

The execution role (template.yaml) and the member-account role (member-role.yaml) carry the same
generated statement between ``# BEGIN responder iam-policy`` and ``# END responder iam-policy``;
this script rewrites that block, and ``tests/deploy/test_templates.py`` fails when a template is
out of date (a new action or permission without a redeploy would fail with AccessDenied in AWS).

    python deploy/sync_policy.py          # rewrite
    python deploy/sync_policy.py --check  # exit 1 if a template differs
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATES = (HERE / "template.yaml", HERE / "member-role.yaml")
_BLOCK = re.compile(r"(?P<indent>[ ]*)# BEGIN responder iam-policy[^\n]*\n.*?\n(?P=indent)# END responder iam-policy",
                    re.DOTALL)


def generated_actions() -> list[str]:
    """The ``Action`` list of ``responder iam-policy --undo`` for the shipped playbooks."""
    sys.path.insert(0, str(HERE.parent))
    from responder.actions.registry import default_registry
    from responder.app import load_shipped
    from responder.iam_policy import permissions

    registry = default_registry()
    per_action = permissions(load_shipped(registry, [HERE.parent / "playbooks"]), registry, undo=True)
    return sorted({p for perms in per_action.values() for p in perms})


def render(indent: str, actions: list[str]) -> str:
    lines = [f"{indent}# BEGIN responder iam-policy (deploy/sync_policy.py; do not edit by hand)",
             f"{indent}- Sid: ResponderPlaybookActions",
             f"{indent}  Effect: Allow",
             f"{indent}  Action:"]
    lines += [f"{indent}    - {action}" for action in actions]
    lines += [f"{indent}  Resource: \"*\"", f"{indent}# END responder iam-policy"]
    return "\n".join(lines)


def synced(text: str, actions: list[str]) -> str:
    if not _BLOCK.search(text):
        raise SystemExit("no '# BEGIN responder iam-policy' block found")
    return _BLOCK.sub(lambda m: render(m.group("indent"), actions), text)


def main(argv: list[str]) -> int:
    actions = generated_actions()
    stale = []
    for path in TEMPLATES:
        text = path.read_text()
        new = synced(text, actions)
        if new != text:
            stale.append(path.name)
            if "--check" not in argv:
                path.write_text(new)
    if stale:
        print(("out of date: " if "--check" in argv else "updated: ") + ", ".join(stale))
    return 1 if stale and "--check" in argv else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
