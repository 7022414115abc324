#!/usr/bin/env python3
"""Runs the commands of the README and the guides, as written, so that the docs cannot drift.

Every ```sh and ```python block of the documents below is executed, in order, one bash
session per document (its blocks share variables such as `Z=...` and background
processes such as a node), in a scratch copy of the checkout under target/docs-run/.
The session fails at the first failing command (`set -euo pipefail`). A block that
cannot run here says so in a directive, an HTML comment on the line before its fence,
which readers of the rendered page do not see:

    <!-- doc-run: skip REASON -->        not executed; REASON says where it runs instead
    <!-- doc-run: wait HOST:PORT -->     before the block: wait (60 s at most) until a
                                         background process started above accepts
                                         connections on HOST:PORT (what a reader typing
                                         the commands does without noticing)

and, anywhere in a document, for the whole document:

    <!-- doc-run: in DIR -->             the document's commands run in DIR (relative to
                                         the repository root), as its text assumes
    <!-- doc-run: after DOC -->          run at the end of DOC's session (it needs what
                                         DOC started, e.g. a node)

Substitutions, the only ones: `cargo build --release` (with or without
`-p zkinfer-prover`) is not run — `target/release/zkinfer` in the scratch copy is the
binary given with --bin (CI: the test build's, as .ci/run does for the README's first
command) — and `zkinfer` is that binary on PATH. Any other `cargo` command must be
skipped with a reason. Everything else runs for real: npm, pip into fresh venvs, anvil,
the Python package's build.

    python3 scripts/docs-run.py --bin target/debug/zkinfer [--only docs/grpc.md] [--list]
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXTRA_DOCS = ["clients/python/README.md", "contracts/README.md", "benches/compare/README.md", "fixtures/bad/README.md"]
RUN_LANGS = {"sh", "bash", "python"}
DIRECTIVE = re.compile(r"^\s*<!--\s*doc-run:\s*(\w+)\s*(.*?)\s*-->\s*$")
SESSION_TIMEOUT_S = 900


@dataclass
class Block:
    doc: str
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    skip: str | None = None
    waits: list[str] = field(default_factory=list)


@dataclass
class Doc:
    path: str
    blocks: list[Block]
    cwd: str = "."
    after: str | None = None


def documents() -> list[str]:
    docs = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))
    docs.append("README.md")
    docs += [d for d in EXTRA_DOCS if (ROOT / d).exists()]
    return docs


def parse(path: str) -> Doc:
    lines = (ROOT / path).read_text().split("\n")
    doc = Doc(path, [])
    pending: list[tuple[str, str, int]] = []  # directives waiting for the next fence
    i = 0
    while i < len(lines):
        line = lines[i]
        m = DIRECTIVE.match(line)
        if m:
            kind, arg = m.group(1), m.group(2)
            if kind == "in":
                doc.cwd = arg
            elif kind == "after":
                doc.after = arg
            elif kind in ("skip", "wait"):
                pending.append((kind, arg, i + 1))
            else:
                sys.exit(f"{path}:{i + 1}: unknown doc-run directive `{kind}`")
            i += 1
            continue
        fence = re.match(r"^(\s*)```(\S*)\s*$", line)
        if fence:
            indent, lang = len(fence.group(1)), fence.group(2)
            body = []
            i += 1
            while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
                body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
                i += 1
            block = Block(path, i - len(body), lang, "\n".join(body) + "\n")
            for kind, arg, at in pending:
                if kind == "skip":
                    if not arg:
                        sys.exit(f"{path}:{at}: `doc-run: skip` needs a reason (where the block runs instead)")
                    block.skip = arg
                else:
                    block.waits.append(arg)
            if pending and lang not in RUN_LANGS:
                sys.exit(f"{path}:{pending[0][2]}: a doc-run directive before a ```{lang} block, which never runs")
            pending = []
            doc.blocks.append(block)
        elif line.strip() and pending:
            sys.exit(f"{path}:{pending[0][2]}: a doc-run directive must be followed by a code block")
        i += 1
    return doc


PRELUDE = r"""set -euo pipefail
cargo() {
    case "$*" in
        "build --release" | "build --release -p zkinfer-prover")
            echo "(docs-run: \`cargo $*\` not run: target/release/zkinfer is $DOCRUN_BIN)" ;;
        *)  echo "docs-run: \`cargo $*\` is not run by this script; mark its block \`doc-run: skip\` saying where it runs" >&2
            return 1 ;;
    esac
}
docrun_wait() { # HOST:PORT
    local host=${1%:*} port=${1##*:} i
    for i in $(seq 600); do
        (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "docs-run: nothing accepts connections on $1 after 60 s" >&2
    return 1
}
docrun_python() {
    if [ -x .venv/bin/python ]; then .venv/bin/python "$@"; else "$DOCRUN_PYTHON" "$@"; fi
}
docrun_cleanup() {
    local pids
    pids=$(jobs -p)
    [ -z "$pids" ] || { kill $pids 2>/dev/null || true; wait $pids 2>/dev/null || true; }
}
trap docrun_cleanup EXIT
"""


def script_for(doc: Doc) -> str:
    out = []
    if doc.cwd != ".":
        out.append(f"pushd {shlex.quote(doc.cwd)} >/dev/null")
    for b in doc.blocks:
        if b.lang not in RUN_LANGS or b.skip:
            continue
        out.append(f"echo {shlex.quote(f'--- {b.doc}:{b.line}')} >&2")
        for w in b.waits:
            out.append(f"docrun_wait {shlex.quote(w)}")
        if b.lang == "python":
            out.append("docrun_python - <<'__DOCRUN_PYTHON__'\n" + b.text + "__DOCRUN_PYTHON__")
        else:
            out.append(b.text)
    if doc.cwd != ".":
        out.append("popd >/dev/null")
    return "\n".join(out) + "\n"


def scratch_copy(dest: Path, binary: Path, installs_in: set[str]) -> None:
    """The checkout's files (tracked and untracked-not-ignored, mtimes kept, so that a
    cargo build from the copy with the checkout's target dir finds it fresh), and links
    to what the docs' commands use from ignored paths — except the node_modules of a
    directory the session itself works in (it runs `npm ci` there, which must not
    reinstall the checkout's through a link)."""
    if dest.exists():
        shutil.rmtree(dest)
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, check=True, capture_output=True).stdout.decode().split("\0")
    for f in files:
        src = ROOT / f
        if not f or not src.is_file() or f.startswith("target/"):
            continue
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / f, follow_symlinks=False)
    for nm in ["contracts/node_modules", "tools/node_modules"]:
        if (ROOT / nm).exists() and str(Path(nm).parent) not in installs_in:
            os.symlink(ROOT / nm, dest / nm)
    (dest / "target/release").mkdir(parents=True)
    os.symlink(binary, dest / "target/release/zkinfer")
    (dest / ".docrun-bin").mkdir()
    os.symlink(binary, dest / ".docrun-bin/zkinfer")


def run_session(name: str, docs: list[Doc], binary: Path, python: str) -> tuple[bool, float]:
    scratch = ROOT / "target/docs-run" / re.sub(r"[^A-Za-z0-9]+", "-", name)
    scratch_copy(scratch, binary, {d.cwd for d in docs})
    script = PRELUDE + "".join(script_for(d) for d in docs)
    (scratch / ".docrun.sh").write_text(script)
    env = dict(os.environ)
    env.update({
        "DOCRUN_BIN": str(binary),
        "DOCRUN_PYTHON": python,
        "PATH": f"{scratch / '.docrun-bin'}:{env.get('PATH', '')}",
        # `pip install ./python` builds in the checkout's target dir (the copy keeps mtimes:
        # what `cargo test` built is reused, as it is when a user runs it in the checkout).
        "CARGO_TARGET_DIR": str(ROOT / "target"),
    })
    t0 = time.monotonic()
    p = subprocess.Popen(["bash", ".docrun.sh"], cwd=scratch, env=env, start_new_session=True)
    try:
        rc = p.wait(timeout=SESSION_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        print(f"docs-run: {name}: still running after {SESSION_TIMEOUT_S} s", file=sys.stderr)
        rc = -1
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)  # anything a block left in the background
        except ProcessLookupError:
            pass
    return rc == 0, time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", help="the zkinfer binary the docs' `target/release/zkinfer` and `zkinfer` mean")
    ap.add_argument("--python", default=str(ROOT / "target/pyenv/bin/python"),
                    help="python for ```python blocks when the session has no .venv (default: target/pyenv)")
    ap.add_argument("--only", action="append", help="run only this document (and those that run after it)")
    ap.add_argument("--list", action="store_true", help="list the blocks and what happens to each; run nothing")
    a = ap.parse_args()

    docs = [parse(d) for d in documents()]
    by_path = {d.path: d for d in docs}
    for d in docs:
        if d.after and d.after not in by_path:
            sys.exit(f"{d.path}: `doc-run: after {d.after}`: no such document")
        if d.after and by_path[d.after].after:
            sys.exit(f"{d.path}: `doc-run: after {d.after}`: that document runs after another one")
    sessions: dict[str, list[Doc]] = {}
    for d in docs:
        if not d.after:
            sessions[d.path] = [d]
    for d in docs:
        if d.after:
            sessions[d.after].append(d)

    executed = skipped = 0
    for d in docs:
        for b in d.blocks:
            if b.lang not in RUN_LANGS:
                continue
            if b.skip:
                skipped += 1
            else:
                executed += 1
            if a.list:
                what = f"skipped: {b.skip}" if b.skip else f"run ({b.lang}, in {d.cwd})"
                print(f"{b.doc}:{b.line}: {what}")
    if a.list:
        print(f"{executed} blocks run, {skipped} skipped")
        return
    if not a.bin:
        sys.exit("--bin is required (the zkinfer binary to run the docs with)")
    binary = Path(a.bin).resolve()
    if not os.access(binary, os.X_OK):
        sys.exit(f"--bin {a.bin}: not an executable file")

    results = []
    for name, group in sessions.items():
        if a.only and name not in a.only:
            continue
        n = sum(1 for d in group for b in d.blocks if b.lang in RUN_LANGS and not b.skip)
        if n == 0:
            continue
        print(f"=== docs-run: {' + '.join(d.path for d in group)} ({n} blocks)", file=sys.stderr, flush=True)
        ok, secs = run_session(name, group, binary, a.python)
        results.append((name, ok, secs, n))
        print(f"=== docs-run: {name}: {'ok' if ok else 'FAILED'} in {secs:.1f} s", file=sys.stderr, flush=True)
    print("docs-run summary:")
    for name, ok, secs, n in results:
        print(f"  {'ok    ' if ok else 'FAILED'} {name:32} {n:3} blocks {secs:7.1f} s")
    print(f"  {executed} blocks in all documents run, {skipped} skipped (each with the reason in its doc-run directive)")
    if not all(ok for _, ok, _, _ in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
