#!/usr/bin/env python3
"""What the Vulkan driver made of each WebGPU program of a run: registers, shared and local memory per program.

Reads the log of a Node run whose Dawn had the `dump_shaders` toggle on (NATTEN_DAWN_FLAGS=...,
enable-dawn-features=dump_shaders: Dawn then prints every module's WGSL and the SPIR-V it made of it), assembles
each SPIR-V module (spirv-as) and compiles it on the Vulkan device with scripts/gpu/vkstats, which prints the
driver's statistics. One line per tiled program (its tile constants from the WGSL), then the full statistics.

    python3 scripts/gpu/shader_stats.py LOG --vkstats PATH --spirv-as PATH [--all] [--out DIR]

`--all` also lists the programs that are not tiled ones (tfjs's own, the row programs). The SPIR-V loses Dawn's
MaximallyReconvergesKHR execution mode (spirv-as 2023.1 does not know it), which may change the driver's code a
little. NVIDIA's driver 580 reports Register Count, Binary Size, Stack Size, Shared Memory Size and a Local Memory
Size of 68719476736 for every program, whatever its registers (it says nothing).
"""
import argparse
import hashlib
import os
import re
import subprocess
import sys

WGSL_MARK = '// Dumped WGSL:'
SPIRV_MARK = '/* Dumped SPIRV disassembly */'
SPIRV_LINE = re.compile(r'^\s*(;|%|Op)')
CONSTS = ('BQ', 'BK', 'TM', 'TN', 'GC', 'THREADS', 'T0', 'T1', 'T2', 'DC4', 'VC4')


def chunks(text):
    """The log's dumped pieces in order: ('wgsl' | 'spirv', text)."""
    out = []
    for part in re.split(r'^info:\s*$', text, flags=re.M):
        body = part.lstrip('\n')
        if body.startswith(WGSL_MARK):
            out.append(('wgsl', body[len(WGSL_MARK):]))
        elif body.startswith(SPIRV_MARK):
            lines = []
            for line in body[len(SPIRV_MARK):].split('\n')[1:]:
                if SPIRV_LINE.match(line):
                    lines.append(line)
                elif line.strip():
                    break
            out.append(('spirv', '\n'.join(lines) + '\n'))
    return out


def describe(wgsl):
    """A short name of a program from its WGSL: the tiled programs' constants, else its first function names."""
    vals = {}
    for name in CONSTS:
        m = re.search(r'^const %s = (\d+);' % name, wgsl, flags=re.M)
        if m:
            vals[name] = int(m.group(1))
    if 'BQ' in vals:
        # The programs of TiledWgsl (the only ones that declare BQ): the fused forward and the backward dq pass.
        kind = 'forward' if 'var<workgroup> flag' in wgsl else 'dq'
        extras = [x for x, needle in (('resident', 'var<workgroup> qtile'), ('prefetch', 'kp_0'), ('ahead', 'tb + '),
                                      ('rolled score', 'var d4 = uniforms.tiles.w'),
                                      ('rolled acc', 'var j4 = uniforms.tiles.w')) if needle in wgsl]
        return True, '%s tile [%s,%s,%s] threads %s (gc %s) block %sx%s dims/step %s %s' % (
            kind, vals.get('T0'), vals.get('T1'), vals.get('T2'), vals.get('THREADS'), vals.get('GC'), vals.get('TM'),
            vals.get('TN'), 4 * vals.get('DC4', 0), ' '.join(extras))
    fns = re.findall(r'^fn (\w+)', wgsl, flags=re.M)
    return False, 'other: ' + ','.join(f for f in fns if f not in ('getGlobalIndex', 'main'))[:80]


def bindings(spirv):
    """Descriptor kinds of set 0 by binding number ('s' storage, 'u' uniform, '-' unused) for vkstats."""
    binding = dict((m.group(1), int(m.group(2))) for m in re.finditer(r'OpDecorate (%\w+) Binding (\d+)', spirv))
    kinds = {}
    for m in re.finditer(r'^\s*(%\w+) = OpVariable %\w+ (Uniform|StorageBuffer)\b', spirv, flags=re.M):
        if m.group(1) in binding:
            kinds[binding[m.group(1)]] = 'u' if m.group(2) == 'Uniform' else 's'
    if not kinds:
        return ''
    return ''.join(kinds.get(i, '-') for i in range(max(kinds) + 1))


def entry_point(spirv):
    m = re.search(r'OpEntryPoint GLCompute %\w+ "(\w+)"', spirv)
    return m.group(1) if m else 'main'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('log')
    ap.add_argument('--vkstats', required=True)
    ap.add_argument('--spirv-as', required=True)
    ap.add_argument('--all', action='store_true')
    ap.add_argument('--out', default='/tmp/natten-shader-stats')
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with open(args.log, errors='replace') as f:
        pieces = chunks(f.read())
    seen = set()
    wgsl = None
    rows = []
    for kind, text in pieces:
        if kind == 'wgsl':
            wgsl = text
            continue
        if wgsl is None:
            continue
        tiled, name = describe(wgsl)
        digest = hashlib.sha1(text.encode()).hexdigest()[:10]
        wgsl_text, wgsl = wgsl, None
        if digest in seen or (not tiled and not args.all):
            continue
        seen.add(digest)
        base = os.path.join(args.out, digest)
        with open(base + '.wgsl', 'w') as f:
            f.write(wgsl_text)
        asm = '\n'.join(line for line in text.split('\n')
                        if 'MaximallyReconvergesKHR' not in line and 'SPV_KHR_maximal_reconvergence' not in line)
        with open(base + '.spvasm', 'w') as f:
            f.write(asm)
        r = subprocess.run([args.spirv_as, '--target-env', 'vulkan1.2', base + '.spvasm', '-o', base + '.spv'],
                           capture_output=True, text=True)
        if r.returncode != 0:
            rows.append((name, digest, 'spirv-as failed: ' + r.stderr.strip()[:200]))
            continue
        r = subprocess.run([args.vkstats, base + '.spv', entry_point(text), bindings(text)], capture_output=True,
                           text=True)
        stats = (r.stdout + r.stderr).strip()
        with open(base + '.stats', 'w') as f:
            f.write(stats + '\n')
        rows.append((name, digest, stats))
    print('%d dumped modules, %d listed (files in %s)' % (sum(1 for k, _ in pieces if k == 'spirv'), len(rows), args.out))
    for name, digest, stats in rows:
        short = ', '.join('%s %s' % (m.group(1).strip(), m.group(2)) for m in
                          re.finditer(r'^\s+([^=\n]+?) = (\S+)', stats, flags=re.M))
        print('%s [%s]: %s' % (name, digest, short or stats.replace('\n', ' | ')[:300]))
    print()
    for name, digest, stats in rows:
        print('== %s [%s]\n%s' % (name, digest, stats))


if __name__ == '__main__':
    sys.exit(main())
