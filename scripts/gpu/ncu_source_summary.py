#!/usr/bin/env python3
"""Where one kernel's instructions and stall samples go, from the per-SASS-instruction table of an ncu profile.

Reads the CSV that scripts/gpu-cuda-check.sh's profile phase writes (source-<preset>[-c<config>].csv.xz:
`ncu --import REP --page source --csv --print-source sass`) and prints three views of it:
  - per opcode: share of executed instructions, of stall samples, and shared-memory wavefronts against their
    ideal (the bank conflicts);
  - runs: consecutive instructions executed the same number of times (a loop body, a branch of it), each with
    its length, share of samples and commonest opcodes; executions divided by --warps give times per warp;
  - per region (--regions "0:2831:prologue,2831:3199:pass,..."; instruction indices from the runs view): the
    instructions per warp and per --per (a chunk count per warp, say), the share of samples and the stall reasons.

    python3 scripts/gpu/ncu_source_summary.py source-2d-large-c37.csv.xz [--warps 16384] [--per 12.03]
        [--regions SPEC] [--min-exec 100000]
"""
import argparse
import collections
import csv
import io
import lzma


def read_table(path):
    opener = lzma.open if path.endswith('.xz') else open
    with opener(path, 'rt') as f:
        rows = list(csv.reader(io.StringIO(f.read())))
    # Row 0 names the kernel; row 1 is the header.
    return rows[0], rows[1], rows[2:]


def opcode(source):
    words = source.split()
    if not words:
        return ''
    word = words[1] if words[0].startswith('@') and len(words) > 1 else words[0]
    return word.split('.')[0]


def number(text):
    try:
        return int(text)
    except ValueError:
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('csv')
    ap.add_argument('--warps', type=float, default=0, help='warps launched (CTAs x warps per CTA)')
    ap.add_argument('--per', type=float, default=1, help='divide a region\'s instructions per warp by this')
    ap.add_argument('--regions', default='', help='start:end:name,... (instruction indices, end excluded)')
    ap.add_argument('--min-exec', type=int, default=100000, help='runs executed fewer times are left out')
    args = ap.parse_args()

    kernel, header, data = read_table(args.csv)
    col = {name: i for i, name in enumerate(header)}
    executed = [number(r[col['Instructions Executed']]) for r in data]
    samples = [number(r[col['Warp Stall Sampling (All Samples)']]) for r in data]
    sources = [r[col['Source']].strip() for r in data]
    wave = [number(r[col['L1 Wavefronts Shared']]) for r in data]
    ideal = [number(r[col['L1 Wavefronts Shared Ideal']]) for r in data]
    stalls = [h for h in header if h.startswith('stall_') and 'Not Issued' not in h]
    total_exec, total_samples = sum(executed) or 1, sum(samples) or 1
    print(kernel[0] if kernel else '')
    print(f'{len(data)} instructions in the kernel, {sum(executed)} executed, {sum(samples)} stall samples')

    print('\nper opcode: % executed, % samples, shared wavefronts / ideal')
    by_op = collections.defaultdict(lambda: [0, 0, 0, 0])
    for i, src in enumerate(sources):
        entry = by_op[opcode(src)]
        entry[0] += executed[i]
        entry[1] += samples[i]
        entry[2] += wave[i]
        entry[3] += ideal[i]
    for op, (e, s, w, wi) in sorted(by_op.items(), key=lambda kv: -kv[1][0])[:25]:
        extra = f'  {w} / {wi}' if wi else ''
        print(f'  {op:10s} {100 * e / total_exec:5.1f}% {100 * s / total_samples:5.1f}%{extra}')

    print(f'\nruns executed at least {args.min_exec} times: first index, executions, length, % samples, opcodes')
    runs = []
    for i, e in enumerate(executed):
        if runs and runs[-1][1] == e:
            runs[-1][2] += 1
            runs[-1][3] += samples[i]
            runs[-1][4].append(opcode(sources[i]))
        else:
            runs.append([i, e, 1, samples[i], [opcode(sources[i])]])
    for start, e, length, s, ops in runs:
        if e >= args.min_exec and (length >= 4 or s > total_samples / 200):
            per_warp = f' ({e / args.warps:.2f} per warp)' if args.warps else ''
            common = ', '.join(f'{op} {n}' for op, n in collections.Counter(ops).most_common(5))
            print(f'  {start:5d} {e:9d}{per_warp} x{length:4d} {100 * s / total_samples:5.1f}%  {common}')

    if args.regions:
        print('\nregions: instructions per warp (and per --per), % samples, stall reasons over 2% of the region')
        for spec in args.regions.split(','):
            start, end, name = spec.split(':', 2)
            span = range(int(start), min(int(end), len(data)))
            e = sum(executed[i] for i in span)
            s = sum(samples[i] for i in span)
            reasons = {h: sum(number(data[i][col[h]]) for i in span) for h in stalls}
            reason_total = sum(reasons.values()) or 1
            top = ' '.join(f'{h[6:]} {100 * v / reason_total:.0f}' for h, v in
                           sorted(reasons.items(), key=lambda kv: -kv[1]) if v / reason_total > 0.02)
            per = f'{e / args.warps / args.per:8.1f}' if args.warps else f'{e:10d}'
            print(f'  {name:14s} {per} {100 * s / total_samples:5.1f}%  {top}')


if __name__ == '__main__':
    main()
