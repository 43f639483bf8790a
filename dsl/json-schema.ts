/**
 * The published JSON Schema, generated from the zod schema so the two cannot disagree. Plugin
 * references are widened for editors: one branch per built-in plugin with its config schema (so
 * fields autocomplete), and one open branch for user plugins, whose schemas only `nas validate`
 * knows.
 */
import { z } from 'zod';
import type { Plugin, PluginKind } from '../plugins/api';
import { BUILTIN_PLUGINS } from '../plugins/builtin';
import { PipelineSchema } from './pipeline';
import { StrategyRefSchema, TargetRefSchema } from './stages';

export const PIPELINE_SCHEMA_PATH = 'schema/pipeline.schema.json';

type JsonObject = Record<string, unknown>;

function pluginBranches(kind: PluginKind, generic: JsonObject): JsonObject[] {
  const plugins = BUILTIN_PLUGINS.filter((p: Plugin) => p.kind === kind);
  const genericProperties = (generic.properties ?? {}) as JsonObject;
  const branches: JsonObject[] = plugins.map((p) => {
    const { $schema: _ignored, ...config } = z.toJSONSchema(p.configSchema, { io: 'input' }) as JsonObject;
    return {
      type: 'object',
      description: p.description,
      properties: { plugin: { const: p.name, description: `${p.name} ${p.version}` }, config },
      required: ['plugin'],
      additionalProperties: false,
    };
  });
  branches.push({
    ...generic,
    description: 'A user plugin listed under `plugins:`; `nas validate` checks its config.',
    properties: { ...genericProperties, plugin: { type: 'string', not: { enum: plugins.map((p) => p.name) } } },
  });
  return branches;
}

export function pipelineJsonSchema(): JsonObject {
  const schema = z.toJSONSchema(PipelineSchema, {
    io: 'input',
    target: 'draft-2020-12',
    override: (ctx) => {
      const kind: PluginKind | undefined =
        ctx.zodSchema === StrategyRefSchema ? 'search-strategy' : ctx.zodSchema === TargetRefSchema ? 'hardware-target' : undefined;
      if (!kind) return;
      const generic = { ...ctx.jsonSchema } as JsonObject;
      for (const key of Object.keys(ctx.jsonSchema)) delete (ctx.jsonSchema as JsonObject)[key];
      Object.assign(ctx.jsonSchema, { anyOf: pluginBranches(kind, generic) });
    },
  }) as JsonObject;
  return { $schema: schema.$schema, title: 'nas pipeline', ...schema };
}

export function pipelineJsonSchemaText(): string {
  return JSON.stringify(pipelineJsonSchema(), null, 2) + '\n';
}
