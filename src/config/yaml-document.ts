import { type TSchema } from '@sinclair/typebox';
import { DefaultErrorFunction, SetErrorFunction, ValueErrorType } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import { isNode, LineCounter, parseDocument, type Document } from 'yaml';

SetErrorFunction((error) => {
  const custom = (error.schema as { errorMessage?: unknown }).errorMessage;
  return typeof custom === 'string' ? custom : DefaultErrorFunction(error);
});

/** A problem in a YAML file, located as precisely as the document allows. */
export interface SpecProblem {
  file: string;
  line: number;
  message: string;
}

export function formatProblem(problem: SpecProblem): string {
  return `${problem.file}:${problem.line}: ${problem.message}`;
}

/** A parsed YAML file that can locate any path in it. */
export class YamlFile {
  readonly data: unknown;
  private readonly doc: Document;
  private readonly lines = new LineCounter();

  constructor(
    readonly file: string,
    text: string,
    readonly problems: SpecProblem[],
  ) {
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true });
    // One syntax error tends to cascade: keep the first per line, and at most five.
    const lines = new Set<number>();
    for (const error of [...this.doc.errors, ...this.doc.warnings]) {
      const line = this.lines.linePos(error.pos[0]).line;
      if (lines.has(line) || lines.size >= 5) continue;
      lines.add(line);
      problems.push({ file, line, message: error.message.split('\n')[0] ?? error.message });
    }
    this.data = this.doc.errors.length > 0 ? undefined : this.doc.toJS();
  }

  /** The line of the value at `path` (or of the nearest enclosing value that exists). */
  lineOf(path: ReadonlyArray<string | number>): number {
    for (let depth = path.length; depth >= 0; depth -= 1) {
      const partial = path.slice(0, depth);
      const node = partial.length === 0 ? this.doc.contents : this.doc.getIn(partial, true);
      if (isNode(node) && node.range) return this.lines.linePos(node.range[0]).line;
      // A key whose value is empty or scalar-less: look for the key itself in its parent map.
      if (depth > 0) {
        const parent = partial.length === 1 ? this.doc.contents : this.doc.getIn(partial.slice(0, -1), true);
        const key = partial[partial.length - 1];
        if (isNode(parent) && 'items' in parent && Array.isArray(parent.items)) {
          for (const item of parent.items as Array<{ key?: unknown }>) {
            const k = item.key;
            if (isNode(k) && 'value' in k && String(k.value) === String(key) && k.range) return this.lines.linePos(k.range[0]).line;
          }
        }
      }
    }
    return 1;
  }

  problem(path: ReadonlyArray<string | number>, message: string): void {
    this.problems.push({ file: this.file, line: this.lineOf(path), message });
  }

  /** Validates the document against a schema; every error becomes a located problem. */
  validate<T extends TSchema>(schema: T): boolean {
    if (this.data === undefined) return false;
    const missing = new Set<string>();
    const found: Array<{ path: Array<string | number>; message: string }> = [];
    for (const error of Value.Errors(schema, this.data)) {
      const path = error.path.split('/').slice(1).map(decodePointer);
      const key = String(path.at(-1) ?? '');
      const where = path.length === 0 ? 'the document' : path.join('.');
      if (error.type === ValueErrorType.ObjectRequiredProperty) {
        missing.add(error.path);
        found.push({ path, message: `${path.slice(0, -1).join('.') || 'the document'}: missing key '${key}'` });
      } else if (!missing.has(error.path)) {
        found.push({ path, message: error.type === ValueErrorType.ObjectAdditionalProperties ? `unknown key '${key}'` : `${where}: ${error.message}` });
      }
    }
    for (const { path, message } of found) this.problem(path, message);
    return found.length === 0;
  }
}

function decodePointer(segment: string): string | number {
  const text = segment.replace(/~1/g, '/').replace(/~0/g, '~');
  return /^\d+$/.test(text) ? Number(text) : text;
}
