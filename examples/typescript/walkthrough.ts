// A programme end to end through a client generated from openapi/openapi.json (openapi-typescript + openapi-fetch),
// type-checked by CI under `tsc --strict` with no cast: participants, a programme, enrolments, a pair and both
// agreements, a session, a survey answer, the metrics, a plugin upload.
//   npx openapi-typescript ../../openapi/openapi.json -o schema.d.ts && npx tsc --strict --noEmit walkthrough.ts
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type Schemas = components["schemas"];
type TokenRequest = Schemas["TokenRequest"];

const baseUrl = process.env.UPWARD_URL ?? "http://127.0.0.1:8080";

/** The token endpoint takes a form (RFC 6749), built from the typed request. */
function form(request: TokenRequest): URLSearchParams {
  const params = new URLSearchParams({ grant_type: request.grant_type });
  if (request.client_id) params.set("client_id", request.client_id);
  if (request.client_secret) params.set("client_secret", request.client_secret);
  return params;
}

/** A problem document (RFC 9457) turned into an exception. */
function fail(problem: Schemas["Problem"] | Schemas["OAuthError"] | undefined): never {
  throw new Error(problem ? JSON.stringify(problem) : "the server did not answer");
}

function as(token: string) {
  return createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });
}

export async function walkthrough(clientId: string, clientSecret: string, component: Blob): Promise<void> {
  const anonymous = createClient<paths>({ baseUrl });
  const issued = await anonymous.POST("/v1/oauth/token", {
    body: { grant_type: "client_credentials", client_id: clientId, client_secret: clientSecret },
    bodySerializer: form,
  });
  if (!issued.data) fail(issued.error);
  const admin = as(issued.data.access_token);

  // Participants: a senior leader and a junior employee.
  const person = async (body: Schemas["CreateParticipant"]): Promise<Schemas["Participant"]> => {
    const { data, error } = await admin.POST("/v1/participants", { body });
    return data ?? fail(error);
  };
  const grace = await person({ email: "grace@acme.example", display_name: "Grace Hopper", level: 9, department: "Operations" });
  const ada = await person({
    email: "ada@acme.example", display_name: "Ada Lovelace", level: 2, department: "Engineering",
    attributes: { cost_centre: "CC-12", badge: 7 },
  });

  // A programme, open for enrolment.
  const created = await admin.POST("/v1/programmes", {
    body: {
      name: "Digital fluency", topics: ["AI tools"], starts_on: "2027-01-11", ends_on: "2027-06-30",
      ground_rules: { off_limit_topics: ["salaries"], target_sessions: 6 },
      matching: { min_level_gap: 2, cross_department: "required" },
    },
  });
  const programme = created.data ?? fail(created.error);
  const opened = await admin.POST("/v1/programmes/{id}/transitions", {
    params: { path: { id: programme.id } }, body: { to: "enrolling" },
  });
  if (!opened.data) fail(opened.error);

  // Each enrols with their own token.
  const tokenFor = async (id: string): Promise<string> => {
    const { data, error } = await admin.POST("/v1/participants/{id}/tokens", { params: { path: { id } } });
    return (data ?? fail(error)).access_token;
  };
  const adaClient = as(await tokenFor(ada.id));
  const graceClient = as(await tokenFor(grace.id));
  for (const [client, role] of [[adaClient, "mentor"], [graceClient, "mentee"]] as const) {
    const { data, error } = await client.POST("/v1/programmes/{id}/enrolments", {
      params: { path: { id: programme.id } }, body: { role, topics: ["AI tools"] },
    });
    if (!data) fail(error);
  }

  // The pair, agreed by both.
  const proposed = await admin.POST("/v1/programmes/{id}/pairs", {
    params: { path: { id: programme.id } }, body: { mentor_id: ada.id, mentee_id: grace.id },
  });
  const pair = proposed.data ?? fail(proposed.error);
  for (const client of [adaClient, graceClient]) {
    const { data, error } = await client.POST("/v1/pairs/{id}/agreement", { params: { path: { id: pair.id } } });
    if (!data) fail(error);
  }

  // A session, then the programme's survey and Ada's answer (an integer for nps, text for a choice).
  const session = await adaClient.POST("/v1/pairs/{id}/sessions", {
    params: { path: { id: pair.id } },
    body: { starts_at: "2027-01-18T09:00:00+00:00", mode: "video", agenda: ["AI tools"] },
  });
  if (!session.data) fail(session.error);
  const survey = await admin.POST("/v1/programmes/{id}/surveys", {
    params: { path: { id: programme.id } },
    body: {
      title: "After six sessions", milestone: "end", audience: "both",
      questions: [{ id: "recommend", kind: "nps", prompt: "Would you recommend the programme?" }],
    },
  });
  if (!survey.data) fail(survey.error);
  const pending = await adaClient.GET("/v1/survey-requests", { params: { query: { state: "pending" } } });
  for (const request of (pending.data ?? fail(pending.error)).data) {
    const answered = await adaClient.POST("/v1/survey-requests/{id}/response", {
      params: { path: { id: request.id } }, body: { answers: [{ question_id: "recommend", value: 9 }] },
    });
    if (!answered.data) fail(answered.error);
  }

  // The programme's health, and the event log narrowed by type.
  const metrics = await admin.GET("/v1/programmes/{id}/metrics", { params: { path: { id: programme.id } } });
  const pairs: number = (metrics.data ?? fail(metrics.error)).pairs.total;
  const events = await admin.GET("/v1/events", { params: { query: { limit: 50 } } });
  for (const event of (events.data ?? fail(events.error)).data) {
    if (event.type === "pair.activated") console.log(`pair ${event.data.id} is ${event.data.state}`);
  }

  // A matcher plugin, uploaded as manifest + component.
  const upload = new FormData();
  const manifest: Schemas["Manifest"] = { name: "same-site-matcher", version: "1.0.0", kind: "matcher" };
  upload.append("manifest", new Blob([JSON.stringify(manifest)], { type: "application/json" }));
  upload.append("component", component);
  const plugin = await admin.POST("/v1/plugins", {
    body: { manifest, component: "" },
    bodySerializer: () => upload,
    headers: { Prefer: "wait=30" },
  });
  console.log(pairs, (plugin.data ?? fail(plugin.error)).state);
}
