/** `npm run schema`: regenerates schema/pipeline.schema.json from the zod schema. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PIPELINE_SCHEMA_PATH, pipelineJsonSchemaText } from './json-schema';

const target = join(__dirname, '..', PIPELINE_SCHEMA_PATH);
mkdirSync(dirname(target), { recursive: true });
writeFileSync(target, pipelineJsonSchemaText());
console.log(`wrote ${PIPELINE_SCHEMA_PATH}`);
