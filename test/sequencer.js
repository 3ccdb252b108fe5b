/**
 * Jest's default order (failed suites first, then the slowest by its timing cache, then the largest files), except
 * that test/webgpu.test.ts always starts first. On a machine whose software GPU driver has not compiled our WGSL
 * before (every fresh CI machine: lavapipe's shader cache starts empty), that suite takes over ten minutes, nearly
 * all of it lavapipe compiling pipelines on one thread, while every other suite together takes about as long on
 * the other worker; jest's timing cache knows that only on machines that ran it before, so without this the suite
 * could start last and run alone at the end.
 */
const Sequencer = require('@jest/test-sequencer').default;

const FIRST = ['webgpu.test.ts'];

class WebGPUFirstSequencer extends Sequencer {
  async sort(tests) {
    const sorted = await super.sort(tests);
    const rank = t => {
      const i = FIRST.findIndex(name => t.path.endsWith(`/test/${name}`));
      return i < 0 ? FIRST.length : i;
    };
    // A stable sort: the default order stays among the others.
    return sorted.map((t, i) => ({t, i})).sort((a, b) => rank(a.t) - rank(b.t) || a.i - b.i).map(x => x.t);
  }
}

module.exports = WebGPUFirstSequencer;
