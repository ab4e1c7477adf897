// Writes one JSON Schema per SDK method, generated from the SDK's own TypeScript response types
// (schema-types.ts names them), into the file given as argv[2]: {"<method>": <schema>, ...}.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGenerator } from 'ts-json-schema-generator';

const here = dirname(fileURLToPath(import.meta.url));
const typesPath = join(here, 'schema-types.ts');
const out = process.argv[2];
if (!out) throw new Error('usage: node gen-schemas.mjs <out.json>');

const aliases = [...readFileSync(typesPath, 'utf8').matchAll(/^export type (\w+) =/gm)].map((m) => m[1]);
const generator = createGenerator({
  path: typesPath,
  tsconfig: join(here, 'tsconfig.json'),
  skipTypeCheck: true,
  expose: 'none',
  topRef: false,
  jsDoc: 'basic',
});
const schemas = {};
for (const alias of aliases) {
  schemas[alias.replaceAll('__', '.')] = generator.createSchema(alias);
}
writeFileSync(out + '.tmp', JSON.stringify(schemas, null, 1));
renameSync(out + '.tmp', out);
console.log(`${aliases.length} schemas -> ${out}`);
