// Marks dist/esm as ES modules and adds the `.js` extensions that Node's ESM loader needs on relative imports.
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..', 'dist', 'esm');
fs.writeFileSync(path.join(root, 'package.json'), '{"type": "module"}\n');

function fix(dir) {
  for (const name of fs.readdirSync(dir)) {
    const file = path.join(dir, name);
    if (fs.statSync(file).isDirectory()) {
      fix(file);
    } else if (name.endsWith('.js')) {
      const src = fs.readFileSync(file, 'utf8').replace(/(from\s+|import\s+)(['"])(\.{1,2}\/[^'"]*)\2/g, (m, kw, q, spec) => {
        const target = path.resolve(path.dirname(file), spec);
        if (fs.existsSync(target + '.js')) return `${kw}${q}${spec}.js${q}`;
        if (fs.existsSync(path.join(target, 'index.js'))) return `${kw}${q}${spec}/index.js${q}`;
        return m;
      });
      fs.writeFileSync(file, src);
    }
  }
}
fix(root);
