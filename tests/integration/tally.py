"""tally.py - the ok/FAIL lines and the closing count of the Python integration checks,
as lib.sh gives them to the shell ones."""
import sys

passed = failed = 0


def check(name, ok, detail=""):
    """Counts one check and prints "ok - NAME" or "FAIL - NAME[: DETAIL]"."""
    global passed, failed
    if ok:
        passed += 1
        print(f"ok - {name}")
    else:
        failed += 1
        print(f"FAIL - {name}" + (f": {detail}" if detail else ""))


def finish(suite):
    """Prints "SUITE: N passed, N failed" and exits 1 when anything failed."""
    print(f"\n{suite}: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
