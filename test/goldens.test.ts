/** tfjs-natten against vectors computed by NATTEN 0.21 itself (test/fixtures, copied from shared/testdata). */
import {checkGoldenCase, Goldens} from './golden_cases';
import {describeAllBackends} from './harness';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const goldens: Goldens = require('./fixtures/natten-goldens-public.json');

describeAllBackends('NATTEN goldens', () => {
  it('has all eight public cases', () => expect(goldens.cases.length).toBe(8));

  for (const c of goldens.cases) {
    it(`${c.name}: output, logsumexp and gradients match NATTEN`, () => checkGoldenCase(c));
  }
});
