/** Scrape the admin /metrics of a running cluster (parse it with prom-text.ts), for tests and benches. */
import { request } from './http.js';

export async function scrape(adminUrl: string): Promise<string> {
  const a = await request(`${adminUrl}/metrics`, { timeoutMs: 20_000 });
  if (a.status !== 200) throw new Error(`GET ${adminUrl}/metrics → ${a.status}: ${a.body.slice(0, 300)}`);
  return a.body;
}

/**
 * Sum of every sample of `name` in the cluster's /metrics whose labels match `labels` (a
 * substring of the label set as written, e.g. `reason="idle"`; '' matches all).
 */
export async function promTotal(adminUrl: string, name: string, labels = ''): Promise<number> {
  const text = await scrape(adminUrl);
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || !(line[name.length] === ' ' || line[name.length] === '{') || !line.includes(labels)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
