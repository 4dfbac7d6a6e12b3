#!/usr/bin/env python3
"""Reads the valgrind logs of a keymgmt run (test/valgrind/run.sh) and says
which errors are keymgmt's.

  scan.py --logs DIR --server-log FILE --module keymgmt=/path/keymgmt.so
          [--canary NAME=/path/canary.so --canary-pid PID]

Valgrind writes one log per process (vg.<pid>.log); run.sh asks for
--error-markers=VGERR-BEGIN,VGERR-END and --fullpath-after= so that each
error is delimited and each frame with debug information carries its full
source path.

A frame belongs to a module when it is "(in .../<module>.so)" (no debug
information) or when its source file lies in a directory that one of the
module's compile units was compiled from (read from the module's DWARF with
readelf), e.g. /work/main/src/token.c.

An error is keymgmt's when any frame of its stack, or of its second stack
(where the block was allocated or freed, or where an uninitialised value was
created), belongs to keymgmt.so.  Exception: an uninitialised byte passed to
a write-type system call is charged to whoever created the byte, not to
whoever happened to be on the stack when PostgreSQL flushed it (a WAL
buffer can be written out in the middle of our SPI call); it is keymgmt's
when the origin stack is keymgmt's, or when keymgmt.so itself made the call
(the first frame outside libc and valgrind is in keymgmt.so).

Errors of the canary's backend (--canary-pid) are not counted against
keymgmt; instead, each planted error must be there (see canary.c).

Exit status: 0 clean, 1 keymgmt errors or leaks, 2 the check itself failed
(canary not seen, a process that never wrote its summary, no logs).
"""

import argparse
import collections
import glob
import os
import re
import subprocess
import sys

FRAME_RE = re.compile(r'^\s+(?:at|by) 0x[0-9A-Fa-f]+: (?P<fn>.*?)(?: \((?P<loc>[^()]*)\))?$')
PREFIX_RE = re.compile(r'^==(\d+)== ?(.*)$')
SUMMARY_RE = re.compile(r'ERROR SUMMARY: ([\d,]+) errors from ([\d,]+) contexts '
                        r'\(suppressed: ([\d,]+) from ([\d,]+)\)')
CONN_RE = re.compile(r'\[(\d+)\] .*connection authorized: .*?(?:application_name=(\S+))?$')
WRITE_PARAM_RE = re.compile(r'^Syscall param (p?write\w*|sendto|send|sendmsg|writev)\(')
SYSTEM_OBJS = ('/libc.so', '/libc-', 'vgpreload_', '/ld-linux')


def num(s):
    return int(s.replace(',', ''))


class Module:
    """A shared object whose frames we look for."""

    def __init__(self, name, path):
        self.name = name
        self.path = os.path.realpath(path)
        self.base = os.path.basename(path)
        self.srcdirs = self._source_dirs()

    def _source_dirs(self):
        try:
            out = subprocess.run(['readelf', '--debug-dump=info', self.path],
                                 capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError) as e:
            sys.stderr.write(f'scan: cannot read debug info of {self.path}: {e}\n')
            return set()
        dirs = set()
        name = comp_dir = None
        in_cu = False
        for line in out.splitlines():
            if 'DW_TAG_compile_unit' in line:
                in_cu, name, comp_dir = True, None, None
                continue
            if in_cu and 'DW_TAG_' in line:
                in_cu = False
            if not in_cu:
                continue
            val = line.rsplit(': ', 1)[-1].strip()
            if 'DW_AT_name' in line:
                name = val
            elif 'DW_AT_comp_dir' in line:
                comp_dir = val
            if name and comp_dir:
                dirs.add(os.path.dirname(os.path.normpath(os.path.join(comp_dir, name))))
                in_cu = False
        return dirs

    def owns(self, frame):
        loc = frame['loc'] or ''
        if loc.startswith('in '):
            obj = loc[3:]
            return os.path.basename(obj) == self.base or os.path.realpath(obj) == self.path
        src = loc.rsplit(':', 1)[0]
        return any(src.startswith(d + '/') for d in self.srcdirs)


class Error:
    def __init__(self, pid, lines):
        self.pid = pid
        self.lines = lines
        self.what = lines[0].strip()
        self.stacks = [[]]			# [0] main stack, then the second stacks
        self.aux = []				# the line that introduces each second stack
        for line in lines[1:]:
            m = FRAME_RE.match(line)
            if m:
                self.stacks[-1].append(m.groupdict())
            elif line.strip():
                self.stacks.append([])
                self.aux.append(line.strip())
        self.is_leak = 'definitely lost' in self.what
        self.kind = self._kind()

    def _kind(self):
        w = self.what
        if self.is_leak:
            return 'definite leak'
        if w.startswith('Invalid read'):
            return 'invalid read'
        if w.startswith('Invalid write'):
            return 'invalid write'
        if w.startswith('Invalid free') or w.startswith('Mismatched free'):
            return 'invalid free'
        if 'uninitialised' in w:
            return 'uninitialised value'
        if w.startswith('Source and destination overlap'):
            return 'overlapping copy'
        return re.sub(r'[\d,]+|0x[0-9a-fA-F]+', 'N', w)

    def owned_by(self, module):
        if WRITE_PARAM_RE.match(self.what):
            if any(module.owns(f) for s in self.stacks[1:] for f in s):
                return True
            for f in self.stacks[0]:
                loc = f['loc'] or ''
                if any(x in loc for x in SYSTEM_OBJS) or '/libio/' in loc or \
                        loc.startswith('io/') or '/sysdeps/' in loc or loc.startswith('posix/'):
                    continue
                return module.owns(f)
            return False
        return any(module.owns(f) for s in self.stacks for f in s)

    def signature(self, depth=6):
        frames = [f['fn'] for f in self.stacks[0][:depth]]
        return f'{self.kind}: ' + ' < '.join(frames)


def read_log(path):
    """Errors and the summary of one vg.<pid>.log."""
    errors = []
    summary = None
    pid = None
    block = None
    with open(path, errors='replace') as fh:
        for raw in fh:
            m = PREFIX_RE.match(raw.rstrip('\n'))
            if not m:
                continue			# --gen-suppressions text, between errors
            pid = int(m.group(1))
            text = m.group(2)
            if text == 'VGERR-BEGIN':
                block = []
            elif text == 'VGERR-END':
                if block:
                    errors.append(Error(pid, block))
                block = None
            elif block is not None:
                block.append(text)
            else:
                s = SUMMARY_RE.search(text)
                if s:
                    summary = tuple(num(x) for x in s.groups())
    return pid, errors, summary


def test_names(server_log):
    """pid -> application_name, from log_connections (pg_regress/<test>,
    isolation/<spec>/<session>, psql, ...)."""
    names = {}
    if server_log and os.path.exists(server_log):
        with open(server_log, errors='replace') as fh:
            for line in fh:
                m = CONN_RE.search(line.rstrip('\n'))
                if m:
                    names[int(m.group(1))] = m.group(2) or '?'
    return names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--logs', required=True)
    ap.add_argument('--server-log')
    ap.add_argument('--module', required=True, help='NAME=/path/to/module.so')
    ap.add_argument('--canary', help='NAME=/path/to/canary.so')
    ap.add_argument('--canary-pid', type=int)
    ap.add_argument('--result', help='write key=value counts here, for run.sh')
    args = ap.parse_args()

    name, path = args.module.split('=', 1)
    km = Module(name, path)
    canary = Module(*args.canary.split('=', 1)) if args.canary else None
    names = test_names(args.server_log)
    problems = []

    if not km.srcdirs:
        print(f'note: {km.path} has no debug information; only "(in {km.base})" frames can match')
    else:
        print(f'{km.base} frames: "(in .../{km.base})" or a source file under '
              + ', '.join(sorted(km.srcdirs)))

    logs = sorted(glob.glob(os.path.join(args.logs, 'vg.*.log')))
    if not logs:
        print(f'scan: no valgrind logs in {args.logs}')
        return 2

    total = total_contexts = suppressed = 0
    unfinished = []
    km_errors, km_leaks, other, canary_errors = [], [], [], []
    for log in logs:
        pid, errors, summary = read_log(log)
        if summary is None:
            unfinished.append(log)
        else:
            total += summary[0]
            total_contexts += summary[1]
            suppressed += summary[2]
        for e in errors:
            if canary and pid == args.canary_pid:
                canary_errors.append(e)
            elif e.owned_by(km):
                (km_leaks if e.is_leak else km_errors).append(e)
            else:
                other.append(e)

    by_kind = collections.Counter(e.kind for e in other)
    print(f'processes: {len(logs)} valgrind logs')
    print(f'valgrind errors, all processes: {total} '
          f'({total_contexts} distinct per process; {suppressed} suppressed by postgres.supp)')
    print(f'  keymgmt.so errors (invalid read/write/free, uninitialised, overlap...): {len(km_errors)}')
    print(f'  keymgmt.so definite leaks: {len(km_leaks)}')
    print(f'  not keymgmt (PostgreSQL, libc...): {len(other)}'
          + (' = ' + ', '.join(f'{n} {k}' for k, n in by_kind.most_common()) if other else ''))
    sigs = collections.Counter(e.signature() for e in other)
    for sig, n in sigs.most_common(10):
        print(f'      {n:4d} x {sig}')

    for e in km_errors + km_leaks:
        print()
        print(f'KEYMGMT {e.kind.upper()} in pid {e.pid} ({names.get(e.pid, "?")}):')
        for line in e.lines:
            print('    ' + line)

    if unfinished:
        problems.append(f'{len(unfinished)} process(es) never wrote their valgrind summary '
                        f'(killed?), so their leaks were not checked: '
                        + ', '.join(os.path.basename(x) for x in unfinished[:10]))

    if canary:
        print()
        if args.canary_pid is None:
            problems.append('the canary did not run (no pid)')
        else:
            seen = {
                'invalid read in keymgmt.so (top frame)':
                    lambda e: e.kind == 'invalid read' and e.stacks[0] and km.owns(e.stacks[0][0]),
                'invalid read below keymgmt.so (libcrypto, called by KeyHash)':
                    lambda e: e.kind == 'invalid read' and e.stacks[0]
                    and not km.owns(e.stacks[0][0]) and e.owned_by(km),
                'uninitialised value used in keymgmt.so':
                    lambda e: e.kind == 'uninitialised value' and e.owned_by(km),
                'definite leak, allocated in the canary':
                    lambda e: e.is_leak and e.owned_by(canary),
            }
            print(f'positive control (canary, pid {args.canary_pid}): '
                  f'{len(canary_errors)} planted errors seen')
            for label, test in seen.items():
                ok = any(test(e) for e in canary_errors)
                print(f'  [{"x" if ok else " "}] {label}')
                if not ok:
                    problems.append(f'the canary\'s "{label}" was not seen: this check is blind')

    for p in problems:
        print('scan: ' + p)
    if args.result:
        with open(args.result, 'w') as fh:
            fh.write(f'logs={len(logs)}\ntotal={total}\nsuppressed={suppressed}\n'
                     f'other={len(other)}\nkm_errors={len(km_errors)}\n'
                     f'km_leaks={len(km_leaks)}\nunfinished={len(unfinished)}\n'
                     f'problems={len(problems)}\n')
    if problems:
        return 2
    return 1 if km_errors or km_leaks else 0


if __name__ == '__main__':
    sys.exit(main())
