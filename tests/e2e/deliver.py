#!/usr/bin/env python3
"""deliver.py — send a push webhook delivery exactly as GitHub or GitLab would (body, headers, signature),
or wavesync's generic push event, and print what the server answered.

usage: deliver.py github|gitlab|gitlab-system|generic --url URL --secret S --repo-url URL --ref REF
                  --before SHA --after SHA [--delivery ID] [--event NAME] [--bad-signature] [--unsigned]
                  [--burst N [--after-list FILE]] [--git-dir DIR] [--pusher NAME] [--header 'K: V']...
                  [--save-body FILE] [--timeout SEC]

  github         X-GitHub-Event: push, X-GitHub-Delivery, X-Hub-Signature-256: sha256=HMAC-SHA256(S, body)
                 (and the legacy X-Hub-Signature sha1); --event ping sends GitHub's ping body.
  gitlab         X-Gitlab-Event: Push Hook (Tag Push Hook for refs/tags/...), X-Gitlab-Token: S,
                 X-Gitlab-Event-UUID, Idempotency-Key.
  gitlab-system  the same push body as a System Hook (X-Gitlab-Event: System Hook).
  generic        wavesync's own: X-Wavesync-Event: push, X-Wavesync-Delivery,
                 X-Wavesync-Signature-256: sha256=HMAC-SHA256(S, body); body {repository, ref, before, after, pusher}.

  --bad-signature signs with a wrong secret (token); --unsigned sends no signature or token header.
  --burst N sends N deliveries with distinct delivery ids over one keep-alive connection; with
  --after-list FILE (one sha per line, used in turn and cycled) each delivery's before is the previous after.
  --git-dir DIR fills commits[] (ids, messages, added/modified/removed) from that repository.

Prints "STATUS BODY" on one line per delivery (body newlines flattened). Exits 0 whatever the status
(the test asserts on it); exits 1 only when no HTTP answer came (printed as "000 error").
"""

import argparse
import hashlib
import hmac
import http.client
import json
import subprocess
import sys
import time
import urllib.parse
import uuid

ZERO = "0" * 40


def is_zero(sha):
    return not sha.strip("0")


def repo_names(repo_url):
    """(owner, name, full_name, host, web_url) from a clone URL like http://h:p/org/repo.git."""
    u = urllib.parse.urlsplit(repo_url)
    path = u.path.strip("/")
    if path.endswith(".git"):
        path = path[:-4]
    parts = [p for p in path.split("/") if p]
    name = parts[-1] if parts else "repo"
    owner = "/".join(parts[:-1]) if len(parts) > 1 else "e2e"
    full = f"{owner}/{name}"
    host = u.hostname or "localhost"
    web = f"{u.scheme or 'http'}://{u.netloc}/{path}" if u.netloc else f"http://{host}/{full}"
    return owner, name, full, host, web


def stable_id(text):
    """A positive integer id derived from text, so repeated runs describe the same repository."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:7], 16)


def git(git_dir, *args):
    return subprocess.run(["git", "-C", git_dir, *args], check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True).stdout


def commits_from_git(git_dir, before, after, web):
    """Up to 20 commits before..after (the newest push's commits), oldest first, as forges list them."""
    if is_zero(after):
        return [], 0
    spec = [after] if is_zero(before) else [f"{before}..{after}"]
    ids = git(git_dir, "rev-list", "--reverse", *spec).split()
    if is_zero(before):
        ids = ids[-1:]
    out = []
    for c in ids[-20:]:
        fmt = git(git_dir, "show", "-s", "--format=%an%x00%ae%x00%cn%x00%ce%x00%aI%x00%T%x00%B", c)
        an, ae, cn, ce, date, tree, msg = fmt.split("\0", 6)
        added, removed, modified = [], [], []
        for line in git(git_dir, "diff-tree", "--root", "--no-commit-id", "-r", "--name-status", c).splitlines():
            st, _, path = line.partition("\t")
            {"A": added, "D": removed}.get(st[:1], modified).append(path.split("\t")[-1])
        out.append({"id": c, "tree_id": tree, "message": msg.rstrip("\n") + "\n", "timestamp": date,
                    "url": f"{web}/commit/{c}", "author": {"name": an, "email": ae},
                    "committer": {"name": cn, "email": ce},
                    "added": added, "removed": removed, "modified": modified})
    return out, len(ids)


def plain_commits(after, web, pusher):
    if is_zero(after):
        return [], 0
    now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    return [{"id": after, "tree_id": hashlib.sha1(after.encode()).hexdigest(), "message": "e2e push\n",
             "timestamp": now, "url": f"{web}/commit/{after}",
             "author": {"name": pusher, "email": f"{pusher}@example.test"},
             "committer": {"name": pusher, "email": f"{pusher}@example.test"},
             "added": [], "removed": [], "modified": []}], 1


def github_body(a, before, after, commits, delivery):
    owner, name, full, host, web = repo_names(a.repo_url)
    rid = stable_id(full)
    user = {"name": a.pusher, "login": a.pusher, "id": stable_id(a.pusher), "type": "User",
            "html_url": f"https://github.com/{a.pusher}"}
    repo = {"id": rid, "node_id": f"R_{rid}", "name": name, "full_name": full, "private": False,
            "owner": {"name": owner, "login": owner, "id": stable_id(owner), "type": "Organization"},
            "html_url": web, "url": web, "clone_url": a.repo_url, "git_url": f"git://{host}/{full}.git",
            "ssh_url": f"git@{host}:{full}.git", "svn_url": web, "default_branch": "main",
            "master_branch": "main", "created_at": 1700000000, "pushed_at": int(time.time()),
            "size": 0, "archived": False, "disabled": False, "visibility": "public"}
    if a.event == "ping":
        return {"zen": "Keep it logically awesome.", "hook_id": 1,
                "hook": {"type": "Repository", "id": 1, "active": True, "events": ["push"],
                         "config": {"content_type": "json", "insecure_ssl": "0", "url": a.url}},
                "repository": repo, "sender": user}
    cmp_from = before[:12] if not is_zero(before) else ""
    head = commits[-1] if commits else None
    for c in commits:
        c["message"] = c["message"].rstrip("\n")  # GitHub trims it; GitLab keeps the newline
        c.setdefault("distinct", True)
        c["author"].setdefault("username", a.pusher)
        c["committer"].setdefault("username", a.pusher)
    return {"ref": a.ref, "before": before, "after": after,
            "repository": repo, "pusher": {"name": a.pusher, "email": f"{a.pusher}@example.test"},
            "sender": user, "created": is_zero(before), "deleted": is_zero(after), "forced": False,
            "base_ref": None,
            "compare": f"{web}/compare/{cmp_from + '...' if cmp_from else ''}{after[:12]}",
            "commits": commits, "head_commit": head}


def gitlab_body(a, before, after, commits, total):
    owner, name, full, host, web = repo_names(a.repo_url)
    pid = stable_id(full)
    tag = a.ref.startswith("refs/tags/")
    kind = "tag_push" if tag else "push"
    project = {"id": pid, "name": name, "description": "", "web_url": web, "avatar_url": None,
               "git_ssh_url": f"git@{host}:{full}.git", "git_http_url": a.repo_url, "namespace": owner,
               "visibility_level": 20, "path_with_namespace": full, "default_branch": "main",
               "ci_config_path": None, "homepage": web, "url": f"git@{host}:{full}.git",
               "ssh_url": f"git@{host}:{full}.git", "http_url": a.repo_url}
    for c in commits:
        c.pop("tree_id", None)
        c.pop("committer", None)
        c["title"] = c["message"].split("\n", 1)[0]
    return {"object_kind": kind, "event_name": kind, "before": before, "after": after, "ref": a.ref,
            "ref_protected": True, "checkout_sha": None if is_zero(after) else after, "message": None,
            "user_id": stable_id(a.pusher), "user_name": a.pusher, "user_username": a.pusher,
            "user_email": "", "user_avatar": None, "project_id": pid, "project": project,
            "commits": commits, "total_commits_count": total, "push_options": {},
            "repository": {"name": name, "url": f"git@{host}:{full}.git", "description": "",
                           "homepage": web, "git_http_url": a.repo_url,
                           "git_ssh_url": f"git@{host}:{full}.git", "visibility_level": 20}}


def hmac_hex(secret, body, algo):
    return hmac.new(secret.encode(), body, algo).hexdigest()


def build(a, before, after, delivery):
    """(body bytes, headers) for one delivery."""
    if a.git_dir:
        commits, total = commits_from_git(a.git_dir, before, after, repo_names(a.repo_url)[4])
    else:
        commits, total = plain_commits(after, repo_names(a.repo_url)[4], a.pusher)
    secret = a.secret + "-wrong" if a.bad_signature else a.secret
    headers = {"Content-Type": "application/json", "Accept": "*/*"}
    if a.provider == "github":
        body = github_body(a, before, after, commits, delivery)
        raw = json.dumps(body, separators=(",", ":")).encode()
        headers.update({"User-Agent": "GitHub-Hookshot/e2e0001", "X-GitHub-Event": a.event or "push",
                        "X-GitHub-Delivery": delivery, "X-GitHub-Hook-ID": "1",
                        "X-GitHub-Hook-Installation-Target-ID": str(stable_id(repo_names(a.repo_url)[2])),
                        "X-GitHub-Hook-Installation-Target-Type": "repository"})
        if not a.unsigned:
            headers["X-Hub-Signature"] = "sha1=" + hmac_hex(secret, raw, hashlib.sha1)
            headers["X-Hub-Signature-256"] = "sha256=" + hmac_hex(secret, raw, hashlib.sha256)
    elif a.provider in ("gitlab", "gitlab-system"):
        body = gitlab_body(a, before, after, commits, total)
        raw = json.dumps(body, separators=(",", ":")).encode()
        if a.event:
            event = a.event
        elif a.provider == "gitlab-system":
            event = "System Hook"
        else:
            event = "Tag Push Hook" if a.ref.startswith("refs/tags/") else "Push Hook"
        host = repo_names(a.repo_url)[3]
        headers.update({"User-Agent": "GitLab/17.5.0", "X-Gitlab-Event": event,
                        "X-Gitlab-Event-UUID": delivery, "X-Gitlab-Webhook-UUID": str(uuid.uuid5(
                            uuid.NAMESPACE_URL, a.url)), "X-Gitlab-Instance": f"http://{host}",
                        "Idempotency-Key": delivery})
        if not a.unsigned:
            headers["X-Gitlab-Token"] = secret
    else:
        body = {"repository": a.repo_url, "ref": a.ref, "before": before, "after": after, "pusher": a.pusher}
        raw = json.dumps(body, separators=(",", ":")).encode()
        headers.update({"User-Agent": "wavesync-deliver/e2e", "X-Wavesync-Event": a.event or "push",
                        "X-Wavesync-Delivery": delivery})
        if not a.unsigned:
            headers["X-Wavesync-Signature-256"] = "sha256=" + hmac_hex(secret, raw, hashlib.sha256)
    for h in a.header:
        k, _, v = h.partition(":")
        headers[k.strip()] = v.strip()
    return raw, headers


class Conn:
    """One keep-alive connection, reopened once if the server closed it between deliveries."""

    def __init__(self, url, timeout):
        u = urllib.parse.urlsplit(url)
        cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
        self.make = lambda: cls(u.hostname, u.port, timeout=timeout)
        self.target = (u.path or "/") + ("?" + u.query if u.query else "")
        self.conn = None

    def post(self, raw, headers):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = self.make()
            try:
                self.conn.request("POST", self.target, body=raw, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                if resp.will_close:
                    self.close()
                return resp.status, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def main():
    ap = argparse.ArgumentParser(description="send a GitHub/GitLab/generic push webhook delivery")
    ap.add_argument("provider", choices=["github", "gitlab", "gitlab-system", "generic"])
    ap.add_argument("--url", required=True, help="webhook endpoint, e.g. http://127.0.0.1:P/api/webhook")
    ap.add_argument("--secret", required=True, help="webhook secret (GitHub/generic HMAC key, GitLab token)")
    ap.add_argument("--repo-url", required=True, help="the repository's clone URL as the forge reports it")
    ap.add_argument("--ref", required=True)
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--delivery", help="delivery id (default: a random UUID; with --burst, ID-1..ID-N)")
    ap.add_argument("--event", help="event header value (default push / Push Hook / System Hook)")
    ap.add_argument("--bad-signature", action="store_true", help="sign with a wrong secret")
    ap.add_argument("--unsigned", action="store_true", help="send no signature or token")
    ap.add_argument("--burst", type=int, default=1, metavar="N", help="send N deliveries on one connection")
    ap.add_argument("--after-list", metavar="FILE", help="with --burst: one after sha per line, in turn")
    ap.add_argument("--git-dir", help="fill commits[] from this repository")
    ap.add_argument("--pusher", default="e2e-pusher")
    ap.add_argument("--header", action="append", default=[], metavar="'K: V'", help="extra header")
    ap.add_argument("--save-body", metavar="FILE", help="write the (last) request body sent here")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    a = ap.parse_args()

    afters = [a.after]
    if a.after_list:
        with open(a.after_list) as f:
            afters = [line.strip() for line in f if line.strip()] or [a.after]
    conn = Conn(a.url, a.timeout)
    before = a.before
    for i in range(a.burst):
        after = afters[i % len(afters)]
        if a.burst == 1:
            delivery = a.delivery or str(uuid.uuid4())
        else:
            delivery = f"{a.delivery}-{i + 1}" if a.delivery else str(uuid.uuid4())
        raw, headers = build(a, before, after, delivery)
        if a.save_body:
            with open(a.save_body, "wb") as f:
                f.write(raw)
        try:
            status, data = conn.post(raw, headers)
        except (OSError, http.client.HTTPException) as e:
            print(f"000 {type(e).__name__}: {e}", flush=True)
            return 1
        text = data.decode("utf-8", errors="replace").replace("\r", " ").replace("\n", " ").strip()
        print(f"{status} {text}", flush=True)
        if a.after_list:
            before = after
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
