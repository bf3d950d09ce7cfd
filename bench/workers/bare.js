// Baseline (b): a bare passthrough Worker. It forwards the request to the origin and returns
// the origin's response, nothing else. `ORIGIN` is the origin's scheme://host:port.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    return fetch(env.ORIGIN + url.pathname + url.search, request);
  },
};
