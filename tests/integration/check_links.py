#!/usr/bin/env python3
"""Every relative link in the tree's Markdown (README.md, docs/, bench/, tests/, fuzz/) names a
file that exists, and an anchor (`page.md#heading`) a heading that page has, slugged as GitHub
slugs them. Links inside code blocks and to other schemes (https:, mailto:) are not checked.

    check_links.py ROOT          the tree's check: exit 1 with a line per broken link
    check_links.py --self-test   the checker's own cases
"""
import os
import re
import sys
import tempfile

SKIP_DIRS = {".git", "build", "subprojects", "node_modules"}
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(text):
    return {slug(h) for h in re.findall(r"^#+ (.*)$", FENCE.sub("", text), re.M)}


def md_files(root):
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if x not in SKIP_DIRS and not x.startswith("build-")]
        for f in files:
            if f.endswith(".md"):
                yield os.path.join(d, f)


def broken(root):
    """(file, link, why) for each broken link under root."""
    out = []
    cache = {}
    for f in sorted(md_files(root)):
        with open(f, encoding="utf-8") as fh:
            text = FENCE.sub("", fh.read())
        for m in LINK.finditer(text):
            link = m.group(1)
            if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", link):
                continue
            path, _, anchor = link.partition("#")
            target = os.path.normpath(os.path.join(os.path.dirname(f), path)) if path else f
            if not os.path.exists(target):
                out.append((f, link, "no such file"))
                continue
            if anchor and target.endswith(".md"):
                if target not in cache:
                    with open(target, encoding="utf-8") as fh:
                        cache[target] = anchors(fh.read())
                if anchor not in cache[target]:
                    out.append((f, link, "no such heading"))
    return out


def self_test():
    with tempfile.TemporaryDirectory() as d:
        os.mkdir(os.path.join(d, "docs"))
        with open(os.path.join(d, "docs", "a.md"), "w") as f:
            f.write("# A page\n\n## `jailer`: Firecracker's flags\n\n```\n## not a heading\n```\n")
        with open(os.path.join(d, "README.md"), "w") as f:
            f.write("[ok](docs/a.md) [ok](docs/a.md#jailer-firecrackers-flags) "
                    "[web](https://example.com/x) [self](#top)\n# Top\n"
                    "[gone](docs/b.md) [bad](docs/a.md#nope) [fenced](docs/a.md#not-a-heading)\n"
                    "```\n[in code](docs/c.md)\n```\n")
        got = sorted((os.path.relpath(f, d), link, why) for f, link, why in broken(d))
        want = [("README.md", "docs/a.md#nope", "no such heading"),
                ("README.md", "docs/a.md#not-a-heading", "no such heading"),
                ("README.md", "docs/b.md", "no such file")]
        if got != want:
            print("FAIL: self-test: got %r, expected %r" % (got, want))
            return 1
    print("ok (self-test)")
    return 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) != 2:
        print(__doc__.strip())
        return 2
    bad = broken(argv[1])
    for f, link, why in bad:
        print("%s: %s: %s" % (os.path.relpath(f, argv[1]), link, why))
    if bad:
        print("FAIL: %d broken link(s)" % len(bad))
        return 1
    print("ok: every relative link resolves")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
