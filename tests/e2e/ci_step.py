#!/usr/bin/env python3
"""ci_step.py — print the shell script of the wavesync sync step of a CI template, so the end-to-end test
can run it with bash under the variables GitHub or GitLab would set.

usage: ci_step.py github|gitlab TEMPLATE_FILE [--env]

  github  the `run:` of the step with id `wavesync-sync` (else the first step named "wavesync sync")
          in any job of the workflow.
  gitlab  the `script:` lines of the job `wavesync-sync` (else the first job whose script runs
          `wavesync ... sync`), joined in order.
  The script is preceded by the runner's own prelude ("set -eo pipefail"), as both runners run it.
  --env   print instead, as JSON, the variables the template sets for that step (workflow, job and step
          `env:` for GitHub; global and job `variables:` for GitLab), values as written (${{ }} kept).

Exits 2 when no such step is found or (GitHub) the script contains a ${{ }} expression, which bash could
not run outside Actions.
"""

import json
import re
import sys

import yaml

PRELUDE = "set -eo pipefail\n"


def die(msg):
    print(f"ci_step.py: {msg}", file=sys.stderr)
    sys.exit(2)


def github(doc):
    jobs = doc.get("jobs") or {}
    found = None
    for pick in (lambda s: s.get("id") == "wavesync-sync",
                 lambda s: re.fullmatch(r"\s*wavesync sync\s*", str(s.get("name", "")), re.I)):
        for job in jobs.values():
            for step in job.get("steps") or []:
                if isinstance(step, dict) and "run" in step and pick(step):
                    found = (job, step)
                    break
            if found:
                break
        if found:
            break
    if not found:
        die("no step with id wavesync-sync (or named \"wavesync sync\") with a run: in the workflow")
    job, step = found
    script = step["run"]
    if "${{" in script:
        die("the sync step's run: contains a ${{ }} expression; pass it through env: instead")
    env = {}
    for scope in (doc.get("env"), job.get("env"), step.get("env")):
        env.update({k: str(v) for k, v in (scope or {}).items()})
    return script, env


def flatten(lines):
    out = []
    for x in lines if isinstance(lines, list) else [lines]:
        if isinstance(x, list):
            out.extend(flatten(x))
        elif x is not None:
            out.append(str(x))
    return out


def gitlab(doc):
    jobs = {k: v for k, v in doc.items() if isinstance(v, dict) and "script" in v}
    job = jobs.get("wavesync-sync")
    if job is None:
        for j in jobs.values():
            if re.search(r"\bwavesync\b.*\bsync\b", "\n".join(flatten(j["script"])), re.S):
                job = j
                break
    if job is None:
        die("no job wavesync-sync (or any job whose script runs wavesync sync) in the pipeline")
    script = "\n".join(line.rstrip("\n") for line in flatten(job["script"])) + "\n"
    env = {}
    for scope in (doc.get("variables"), job.get("variables")):
        for k, v in (scope or {}).items():
            env[k] = str(v.get("value", "")) if isinstance(v, dict) else str(v)
    return script, env


def main(argv):
    args = [a for a in argv[1:] if a != "--env"]
    if len(args) != 2 or args[0] not in ("github", "gitlab"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    with open(args[1]) as f:
        doc = yaml.safe_load(f)
    if not isinstance(doc, dict):
        die(f"{args[1]}: not a YAML mapping")
    script, env = (github if args[0] == "github" else gitlab)(doc)
    if "--env" in argv[1:]:
        print(json.dumps(env, indent=2, sort_keys=True))
    else:
        sys.stdout.write(PRELUDE + script)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
