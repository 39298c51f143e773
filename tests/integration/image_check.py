#!/usr/bin/env python3
"""image_check.py - what deploy/Dockerfile needs, checked without Docker.

- The runtime stage installs the Debian package of every library the binary the build stage
  makes links (its NEEDED entries, resolved by ldd, found with dpkg -S), libc6 aside (the base
  image has it). That binary, not the one under test: make check's has the sanitizers'.
- The build stage installs the -dev package of each pkg-config module the Makefile builds with
  (PKGS: the package of its .pc file) and of each library it links by -l alone (mimalloc).
- The build context: the build stage's COPY sources, filtered by .dockerignore as Docker does
  (the last matching pattern decides, '!' takes back), copied into an empty directory, and the
  stage's make command run there (-j2, in an environment of PATH and HOME alone, as in a
  fresh container): it must build, and the binary must answer `version`.
  This is what broke unseen when the build came to need scripts/schemagen.c.

Prints "ok - ..." or "FAIL - ..." per check and "image: N passed, N failed" last; exit 1 on a
failure.
"""
import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
passed = failed = 0


def check(ok, what):
    global passed, failed
    print(("ok - " if ok else "FAIL - ") + what)
    if ok:
        passed += 1
    else:
        failed += 1


def stages(text):
    """The Dockerfile's stages: lists of (instruction, argument) with continuations joined."""
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        op, _, arg = line.partition(" ")
        if op.upper() == "FROM":
            out.append([])
        out[-1].append((op.upper(), arg.strip()))
    return out


def apt_packages(stage):
    pkgs = set()
    for op, arg in stage:
        if op != "RUN":
            continue
        for cmd in re.split(r"&&|;", arg):
            words = shlex.split(cmd)
            if len(words) > 2 and words[0] == "apt-get" and "install" in words:
                pkgs |= {w for w in words[words.index("install") + 1:] if not w.startswith("-")}
    return pkgs


def package_of(path):
    r = subprocess.run(["dpkg", "-S", os.path.realpath(path)], capture_output=True, text=True)
    if r.returncode != 0:
        r = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
    return r.stdout.split(":")[0] if r.returncode == 0 else None


def dpkg_owner(path):
    """The package that ships 'path' as it is named (a symbolic link too), with or without the
    /usr of a merged /usr."""
    for p in (path, re.sub(r"^/usr/", "/", path), re.sub(r"^/(?!usr/)", "/usr/", path)):
        r = subprocess.run(["dpkg", "-S", p], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.split(":")[0]
    return None


def ignored(rel, patterns):
    """Whether Docker leaves 'rel' out of the context: the last pattern that matches it or one
    of its parent directories decides."""
    out = False
    parts = rel.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for pat in patterns:
        neg = pat.startswith("!")
        p = pat[1:] if neg else pat
        p = p.strip("/")
        if any(fnmatch.fnmatchcase(x, p) for x in prefixes):
            out = not neg
    return out


def runtime_libs(binary, runtime_pkgs):
    """The runtime stage's packages against what 'binary' links."""
    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    paths = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd, re.M))
    dyn = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True, check=True)
    needed = re.findall(r"\(NEEDED\).*\[(.*)\]", dyn.stdout)
    for lib in needed:
        pkg = package_of(paths.get(lib, lib))
        if pkg in ("libc6", None) and lib.startswith(("libc.so", "libm.so")):
            continue
        check(pkg is not None and pkg in runtime_pkgs,
              f"the runtime stage installs {pkg} ({lib})")


def main():
    with open(os.path.join(ROOT, "deploy/Dockerfile")) as f:
        st = stages(f.read())
    build, runtime = st[0], st[-1]
    build_pkgs, runtime_pkgs = apt_packages(build), apt_packages(runtime)

    # the build's own list: the pkg-config modules of the Makefile (PKGS), each from the -dev
    # package that ships its .pc file, and the libraries it names with -l alone (mimalloc)
    with open(os.path.join(ROOT, "Makefile")) as f:
        mk = f.read()
    mods = re.search(r"^PKGS\s*:=\s*(.*)$", mk, re.M).group(1).split()
    for mod in mods:
        pcdir = subprocess.run(["pkg-config", "--variable=pcfiledir", mod], capture_output=True,
                               text=True).stdout.strip()
        dev = dpkg_owner(os.path.join(pcdir, mod + ".pc"))
        check(dev is not None and dev in build_pkgs, f"the build stage installs {dev} ({mod}.pc)")
    triplet = subprocess.run(["gcc", "-print-multiarch"], capture_output=True,
                             text=True).stdout.strip()
    for name in re.findall(r"-l(mimalloc)\b", mk):
        dev = dpkg_owner(f"/usr/lib/{triplet}/lib{name}.so")
        check(dev is not None and dev in build_pkgs, f"the build stage installs {dev} (-l{name})")

    with open(os.path.join(ROOT, ".dockerignore")) as f:
        patterns = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    make = None
    with tempfile.TemporaryDirectory() as ctx:
        for op, arg in build:
            if op == "WORKDIR":
                workdir = arg
            elif op == "COPY" and not arg.startswith("--"):
                *srcs, dest = shlex.split(arg)
                for src in srcs:
                    base = os.path.join(ROOT, src)
                    check(os.path.exists(base), f"COPY {src}: it exists")
                    files = [base] if os.path.isfile(base) else [
                        os.path.join(d, n) for d, _, ns in os.walk(base) for n in ns]
                    kept = 0
                    for path in files:
                        rel = os.path.relpath(path, ROOT)
                        if ignored(rel, patterns):
                            continue
                        to = os.path.join(ctx, os.path.relpath(os.path.join(workdir, dest),
                                                               "/").lstrip("./"))
                        if dest.endswith("/") or len(srcs) > 1 or os.path.isdir(base):
                            to = os.path.join(to, os.path.relpath(path, base)
                                              if os.path.isdir(base) else os.path.basename(path))
                        os.makedirs(os.path.dirname(to), exist_ok=True)
                        shutil.copy(path, to)
                        kept += 1
                    check(kept > 0, f"COPY {src}: .dockerignore leaves {kept} files")
            elif op == "RUN" and arg.startswith("make "):
                make = arg.split("&&")[0]
        check(make is not None, "the build stage runs make")
        if make is not None:
            cmd = make.replace('-j"$(nproc)"', "-j2").replace('"$COMMIT"', "image-check")
            src = os.path.join(ctx, os.path.relpath(workdir, "/"))
            # a container's environment: none of the variables a make this runs under exports
            # (make check's BUILD=build/san SAN=1 reach the environment, not only MAKEFLAGS)
            env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR")
                   if k in os.environ}
            r = subprocess.run(cmd, shell=True, cwd=src, env=env, capture_output=True, text=True)
            check(r.returncode == 0, f"the build context builds: {cmd}" +
                  ("" if r.returncode == 0 else "\n" + r.stderr[-2000:]))
            out = os.path.join(src, "build/streamguard")
            r = subprocess.run([out, "version"], capture_output=True, text=True) \
                if os.path.exists(out) else None
            check(r is not None and r.returncode == 0 and "image-check" in r.stdout,
                  "the binary it builds answers version")
            if r is not None:
                runtime_libs(out, runtime_pkgs)
    print(f"image: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
