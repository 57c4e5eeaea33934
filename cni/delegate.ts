// Delegating to another plugin as the CNI spec says (an IPAM plugin such as host-local): exec
// `<dir of CNI_PATH>/<type>` with the same network config on stdin and the same environment, CNI_COMMAND set
// to the command; its result, or its error object as a CniError.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { CniCode, CniError } from './protocol';

/** The first `<dir>/<type>` of CNI_PATH that exists. */
export function findPlugin(type: string, cniPath: string[]): string {
  if (!/^[\w.-]+$/.test(type)) throw new CniError(CniCode.InvalidConfig, `plugin type "${type}" is not a file name`);
  for (const dir of cniPath) {
    const candidate = path.join(dir, type);
    if (existsSync(candidate)) return candidate;
  }
  throw new CniError(
    CniCode.InvalidEnvironment,
    `plugin ${type} not found in CNI_PATH (${cniPath.join(':') || 'empty'})`,
  );
}

/** Runs the plugin; resolves with its parsed result (undefined when it printed nothing). */
export function execPlugin(
  type: string,
  command: string,
  stdin: string,
  cniPath: string[],
  env: NodeJS.ProcessEnv,
): Promise<unknown> {
  const file = findPlugin(type, cniPath);
  return new Promise((resolve, reject) => {
    const child = spawn(file, [], { env: { ...env, CNI_COMMAND: command }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.stdin.on('error', () => {}); // a plugin that exits without reading says why in its status
    child.stdin.end(stdin);
    child.on('error', (err) => reject(new CniError(CniCode.IoFailure, `${type} ${command}: ${err.message}`)));
    child.on('close', (code) => {
      let output: unknown;
      try {
        output = stdout.trim() === '' ? undefined : JSON.parse(stdout);
      } catch {
        output = undefined;
      }
      if (code === 0) return resolve(output);
      const error = output as { code?: unknown; msg?: unknown; details?: unknown } | undefined;
      const reason = typeof error?.msg === 'string' ? error.msg : (stderr || stdout).trim() || `exit status ${code}`;
      reject(
        new CniError(
          typeof error?.code === 'number' ? error.code : 999,
          `${type} ${command}: ${reason}`,
          typeof error?.details === 'string' ? error.details : '',
        ),
      );
    });
  });
}
