// The fabric dashboard, GET /ui: one page of plain HTML, CSS and browser JavaScript (api/ui/), no build step, which
// follows the API's own lists and watch streams. tsc puts only compiled TypeScript into dist/, and this module runs
// as dist/api/dashboard.js: the files are read from the package's source tree, two levels up, when the server is
// built.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';

const UI_DIR = path.join(__dirname, '..', '..', 'api', 'ui');

const FILES: Record<string, { file: string; type: string }> = {
  '/ui': { file: 'dashboard.html', type: 'text/html; charset=utf-8' },
  '/ui/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/ui/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
};

/** The dashboard's paths: they hold no data (the page asks for a token when the API wants one), so need no token. */
export const DASHBOARD_PATHS: readonly string[] = Object.keys(FILES);

export function registerDashboard(app: FastifyInstance): void {
  for (const [url, { file, type }] of Object.entries(FILES)) {
    const body = readFileSync(path.join(UI_DIR, file));
    app.get(url, async (_req, reply) =>
      reply
        .type(type)
        .header('cache-control', 'no-cache')
        .header('x-content-type-options', 'nosniff')
        // The page's own files and the API, nothing else: no inline script, no other origin.
        .header('content-security-policy', "default-src 'self'; style-src 'self'; script-src 'self'")
        .send(body),
    );
  }
}
