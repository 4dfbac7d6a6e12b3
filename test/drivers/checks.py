"""The "ok - ..." / "not ok - ..." lines of the Python driver checks
(test/drivers/run.sh numbers them into one TAP stream)."""

failures = 0


def check(cond, what, diag=None):
    global failures
    print(("ok - " if cond else "not ok - ") + what, flush=True)
    if not cond:
        failures += 1
        if diag:
            print("# " + str(diag)[:2000].replace("\n", "\n# "), flush=True)
