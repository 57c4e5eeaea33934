// Checks a document against its kind's schema and turns the first violation into a field path and a sentence
// (`spec.blockSize`, "must be an integer, got \"26\"") instead of TypeBox's JSON pointer and generic message.
import type { TSchema } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import { type ValueError, ValueErrorType } from '@sinclair/typebox/errors';
import { fieldPath, show } from './errors';
import { RESOURCE_SCHEMAS } from './types';

export interface StructureProblem {
  field: string;
  detail: string;
}

// Compiled on first use: most processes only ever see a few kinds.
const compiledByKind = new Map<string, TypeCheck<TSchema>>();

function compiled(kindId: string): TypeCheck<TSchema> {
  let check = compiledByKind.get(kindId);
  if (check === undefined) {
    const schema = RESOURCE_SCHEMAS[kindId];
    if (schema === undefined) throw new Error(`no schema for kind ${kindId}`);
    check = TypeCompiler.Compile(schema);
    compiledByKind.set(kindId, check);
  }
  return check;
}

/** The first way `doc` breaks its kind's schema, or undefined when it fits. */
export function checkStructure(kindId: string, doc: unknown): StructureProblem | undefined {
  const check = compiled(kindId);
  if (check.Check(doc)) return undefined;
  const error = check.Errors(doc).First();
  if (error === undefined) return { field: 'kind', detail: 'does not match its schema' };
  return { field: pathOf(doc, error.path), detail: describe(error) };
}

/** JSON pointer → `spec.ingress[0].ports[1]`, looking at the document to tell list items from map keys. */
function pathOf(doc: unknown, pointer: string): string {
  let path = '';
  let value: unknown = doc;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(value)) {
      path = fieldPath(path, Number(key));
      value = value[Number(key)];
    } else {
      path = fieldPath(path, key);
      value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
    }
  }
  return path || 'kind';
}

function allowedValues(schema: TSchema): unknown[] | undefined {
  const options = schema.anyOf as TSchema[] | undefined;
  if (!options?.every((option) => 'const' in option)) return undefined;
  return options.map((option) => option.const);
}

function describe(error: ValueError): string {
  const { schema, value } = error;
  const got = `, got ${show(value)}`;
  switch (error.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return 'is required';
    case ValueErrorType.ObjectAdditionalProperties:
      return 'unknown field';
  }
  if (typeof schema.errorMessage === 'string') return schema.errorMessage + got;
  switch (error.type) {
    case ValueErrorType.Union: {
      const values = allowedValues(schema);
      if (values) return `must be one of ${values.join(', ')}${got}`;
      return `has the wrong type${got}`;
    }
    case ValueErrorType.Literal:
      return `must be ${show(schema.const)}${got}`;
    case ValueErrorType.Object:
    case ValueErrorType.ObjectMinProperties:
      return `must be an object${got}`;
    case ValueErrorType.Array:
      return `must be a list${got}`;
    case ValueErrorType.String:
      return `must be a string${got}`;
    case ValueErrorType.Boolean:
      return `must be true or false${got}`;
    case ValueErrorType.Integer:
      return `must be an integer${got}`;
    case ValueErrorType.Number:
      return `must be a number${got}`;
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `must be at least ${schema.minimum}${got}`;
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return `must be at most ${schema.maximum}${got}`;
    case ValueErrorType.StringMaxLength:
      return `must be at most ${schema.maxLength} characters long`;
    case ValueErrorType.StringPattern:
      return `must match /${schema.pattern}/${got}`;
    case ValueErrorType.ArrayMaxItems:
      return `must have at most ${schema.maxItems} items`;
    case ValueErrorType.ArrayMinItems:
      return `must have at least ${schema.minItems} item${schema.minItems === 1 ? '' : 's'}`;
    default:
      return error.message;
  }
}
