/** Scrape the admin /metrics of a running cluster (parse it with prom-text.ts), for tests and benches. */
import { request } from './http.js';

export async function scrape(adminUrl: string): Promise<string> {
  const a = await request(`${adminUrl}/metrics`, { timeoutMs: 20_000 });
  if (a.status !== 200) throw new Error(`GET ${adminUrl}/metrics → ${a.status}: ${a.body.slice(0, 300)}`);
  return a.body;
}
