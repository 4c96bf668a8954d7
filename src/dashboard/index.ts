import { join } from 'node:path';

/** The dashboard's static files (HTML, CSS, browser modules): no build step, no CDN. */
export const DASHBOARD_ROOT = join(import.meta.dirname, 'public');

/**
 * The dashboard's Content-Security-Policy: its own scripts and styles only, and requests only to
 * this origin. Even a message that slipped into the DOM as markup could not run a script.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');
