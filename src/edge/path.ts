/**
 * A request's path without parsing its URL: most requests' paths are plain, and `new URL` costs
 * an object and a parse per request for what a slice gives.
 *
 * @module
 */

// A path of these characters, no segment of which is `.` or `..`, is its own URL pathname.
const PLAIN_PATH = /^\/[A-Za-z0-9\-._~:@\/]*$/;
const DOT_SEGMENT = /\/\.\.?(?:\/|$)/;

/**
 * The pathname of `href`, an absolute URL as the server gives requests, when it holds nothing
 * the URL parser would rewrite (dot segments, percent-encoding, characters it escapes);
 * otherwise undefined, and `new URL(href).pathname` decides.
 *
 * @example
 * ```ts
 * plainPath("http://127.0.0.1:8000/v1/chat/completions?x=1"); // "/v1/chat/completions"
 * plainPath("http://127.0.0.1:8000/v1/../models"); // undefined
 * ```
 */
export function plainPath(href: string): string | undefined {
  const start = href.indexOf("/", href.indexOf("//") + 2);
  if (start < 0) return undefined;
  let end = href.indexOf("?", start);
  const hash = href.indexOf("#", start);
  if (end < 0 || (hash >= 0 && hash < end)) end = hash;
  const path = end < 0 ? href.slice(start) : href.slice(start, end);
  return PLAIN_PATH.test(path) && !DOT_SEGMENT.test(path) ? path : undefined;
}
