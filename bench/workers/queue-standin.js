// A stand-in for the Queue producer binding in raw workerd, for scenario (n) only: `make bench`
// runs workerd without Miniflare, which is what provides queues locally. A real `sendBatch` is
// a call to Cloudflare's queue service; this one makes it an HTTP POST of the messages to
// nginx, a subrequest like the one direct delivery makes, so what the page's invocation pays
// for a send is not understated. The consumer's work (its POST to the platform) runs in
// another invocation and is not measured here.
export default function makeBinding(env) {
  return {
    async send(body) {
      await this.sendBatch([{ body }]);
    },
    async sendBatch(messages) {
      // The bodies as they are (text messages), one per line: no serialization of our own.
      const res = await fetch(env.url, { method: "POST", body: messages.map((m) => m.body).join("\n") });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`queue stand-in: HTTP ${res.status}`);
    },
  };
}
