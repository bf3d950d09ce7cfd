// Baseline (c): what the seed worker (the Spesati blog post) does, in today's module syntax:
// proxy, copy the response to strip the tracking header, a tiny bot regex, and a Conversions
// API post in waitUntil. Kept as careless as the original on purpose (no validation, no
// retries); only the token moved out of the URL so the mock sees the same request shape.
const trackingHeader = "Worker-Tracking";
const botRegex = /(bot|crawl|spider)/i;

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    let response = await fetch(env.ORIGIN + url.pathname + url.search, request);
    response = new Response(response.body, response);
    if (response.headers.has(trackingHeader)) {
      const ua = request.headers.get("user-agent") || "";
      if (!ua.match(botRegex)) {
        ctx.waitUntil(facebookTrack(env, request, response.headers.get(trackingHeader)));
      }
      response.headers.delete(trackingHeader);
    }
    return response;
  },
};

async function facebookTrack(env, request, header) {
  const eventData = JSON.parse(header);
  const body = {
    data: [{
      event_name: eventData.event_name,
      event_time: Math.floor(Date.now() / 1000),
      event_source_url: request.url,
      action_source: "website",
      user_data: {
        client_ip_address: request.headers.get("CF-Connecting-IP"),
        client_user_agent: request.headers.get("User-Agent"),
      },
      custom_data: eventData.custom_data,
      contents: eventData.contents,
    }],
  };
  const res = await fetch(env.GRAPH + "/v26.0/1/events", {
    body: JSON.stringify(body),
    method: "POST",
    headers: { "content-type": "application/json;charset=UTF-8", authorization: "Bearer bench" },
  });
  console.log(await res.text());
}
