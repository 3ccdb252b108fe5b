/** The native-addon loader: where it looks, and the reasons it gives when an addon is unavailable. */
import * as path from 'path';
import {addonCandidates, loadAddon} from '../src/native/addon_loader';

describe('native addon loader', () => {
  it('looks in prebuilds/<platform>-<arch> first, then build/Release, inside the package', () => {
    const root = path.resolve(__dirname, '..');
    expect(addonCandidates('natten_probe')).toEqual([
      path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'natten_probe.node'),
      path.join(root, 'build', 'Release', 'natten_probe.node'),
    ]);
  });

  it('says which files it looked for when the addon is missing, and caches the answer', () => {
    const r = loadAddon('natten_missing_addon');
    expect(r.addon).toBeNull();
    expect(r.reason).toMatch(/^no natten_missing_addon\.node for \w+-\w+ \(looked in .*prebuilds.*build.Release/);
    expect(loadAddon('natten_missing_addon')).toBe(r);
  });

  it('names the environment variable that disabled it', () => {
    process.env.NATTEN_TEST_DISABLE = '1';
    try {
      expect(loadAddon('natten_disabled_addon', 'NATTEN_TEST_DISABLE').reason)
          .toBe('disabled by the environment variable NATTEN_TEST_DISABLE=1');
    } finally {
      delete process.env.NATTEN_TEST_DISABLE;
    }
  });
});
