// Clients that leave at random moments, streamed and not, one after another on a one-slot
// server: the server must outlive all of them (a stream cancelled by its client's close was once
// handed to httplib's content provider a second time and crashed the server - eleventh session;
// this mix reproduced it within ~25 leaves).
export async function abortStorm(url, model, leaves = 30) {
  for (let i = 0; i < leaves; ++i) {
    const controller = new AbortController();
    const streamed = i % 2 === 0;
    // A non-streamed answer comes whole at the end: its client leaves while it is generated.
    if (!streamed) setTimeout(() => controller.abort(), 30 + ((i * 37) % 200));
    try {
      const response = await fetch(`${url}/v1/completions`, {
        method: 'POST', signal: controller.signal, headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ model, prompt: 'def f():', max_tokens: 900, temperature: 0,
                               ignore_eos: true, stream: streamed }) });
      if (streamed) {
        let chunks = 0;
        for await (const chunk of response.body) if (++chunks === 1 + (i % 5)) controller.abort();
      } else {
        await response.text();
      }
    } catch { /* aborted */ }
    const health = await fetch(`${url}/health`).catch((e) => e);
    if (!(health instanceof Response) || health.status !== 200) {
      throw new Error(`server gone after ${i + 1} leaves: ${health.cause?.code ?? health.status}`);
    }
  }
  // The last leave's cancellation settles before the next check reads the counters.
  const started = Date.now();
  while (Date.now() - started < 10000) {
    const text = await (await fetch(`${url}/metrics`)).text();
    if (/^mimo_requests_running 0$/m.test(text) && /^mimo_requests_waiting 0$/m.test(text)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('requests still running 10 s after the last leave');
}
