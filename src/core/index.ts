/** The pure neighborhood index math and NAInfo (no tfjs), for backends and tests. */
export * from './na_mask';
export * from './na_info';
export * from './neighbors';
