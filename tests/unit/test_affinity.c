/* Conversation affinity (tollgate/affinity.h): the block chains of
 * prompts, the table of what each server was sent, its forgetting, and
 * the choice it steers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tg_test.h"
#include "tollgate/affinity.h"
#include "tollgate/servers.h"

#define SYS "{\"role\":\"system\",\"content\":\"You are a careful assistant.\"}"
#define U1 "{\"role\":\"user\",\"content\":\"Why is the sky blue?\"}"
#define A1 "{\"role\":\"assistant\",\"content\":\"Rayleigh scattering.\"}"
#define U2 "{\"role\":\"user\",\"content\":\"And at sunset?\"}"
#define CHAT(...) "{\"model\":\"m\",\"messages\":[" __VA_ARGS__ "]}"

static void test_chain_chat(void) {
  tg_affinity_chain a, b, c;
  TG_CHECK(tg_affinity_chain_of(&a, "m:latest", CHAT(SYS "," U1), strlen(CHAT(SYS "," U1))) == 3);
  TG_CHECK(tg_affinity_chain_of(&b, "m:latest", CHAT(SYS "," U1 "," A1 "," U2),
                                strlen(CHAT(SYS "," U1 "," A1 "," U2))) == 5);
  TG_CHECK(memcmp(a.hash, b.hash, 3 * sizeof a.hash[0]) == 0); /* the earlier turn is the later one's prefix */
  TG_CHECK(a.tokens[2] == b.tokens[2] && b.tokens[4] > b.tokens[2]);
  TG_CHECK(tg_affinity_chain_of(&c, "other:latest", CHAT(SYS "," U1), strlen(CHAT(SYS "," U1))) == 3);
  TG_CHECK(c.hash[0] != a.hash[0] && c.hash[1] != a.hash[1]); /* another model: nothing shared */
  TG_CHECK(tg_affinity_chain_of(&c, "m:latest", CHAT(U1), strlen(CHAT(U1))) == 2);
  TG_CHECK(c.hash[0] == a.hash[0] && c.hash[1] != a.hash[1]); /* no system prompt: apart from block 1 */
  /* the keys' order and spacing inside a message do not matter */
  const char *spaced =
      "{\"model\":\"m\",\"messages\":[{ \"content\" : \"You are a careful assistant.\", \"role\":\"system\"}]}";
  TG_CHECK(tg_affinity_chain_of(&c, "m:latest", spaced, strlen(spaced)) == 2 && c.hash[1] == a.hash[1]);
  const char *tools = "{\"model\":\"m\",\"tools\":[{\"type\":\"function\"}],\"messages\":[" SYS "]}";
  TG_CHECK(tg_affinity_chain_of(&c, "m:latest", tools, strlen(tools)) == 2 && c.hash[0] != a.hash[0]);
}

static void test_chain_generate_and_junk(void) {
  char body[1200];
  tg_affinity_chain a, b;
  snprintf(body, sizeof body, "{\"model\":\"m\",\"prompt\":\"%0600d\"}", 7);
  TG_CHECK(tg_affinity_chain_of(&a, "m:latest", body, strlen(body)) == 5); /* model, system, 3 blocks of 256 */
  snprintf(body, sizeof body, "{\"model\":\"m\",\"prompt\":\"%0600d and more\"}", 7);
  TG_CHECK(tg_affinity_chain_of(&b, "m:latest", body, strlen(body)) == 5);
  TG_CHECK(memcmp(a.hash, b.hash, 4 * sizeof a.hash[0]) == 0 && a.hash[4] != b.hash[4]);
  snprintf(body, sizeof body, "{\"model\":\"m\",\"system\":\"be brief\",\"prompt\":\"%0600d\"}", 7);
  TG_CHECK(tg_affinity_chain_of(&b, "m:latest", body, strlen(body)) == 5 && b.hash[1] != a.hash[1]);
  const char *junk[] = {
      "", "not json", "[1,2]", "{\"model\":\"m\"}", "{\"messages\":{}}", "{\"prompt\":3}", "{\"messages\":[1,"};
  for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
    TG_CHECK(tg_affinity_chain_of(&a, "m:latest", junk[i], strlen(junk[i])) == 0);
  /* a long chat stops at TG_AFF_BLOCKS blocks */
  char *big = malloc(64 * 64 + 64);
  strcpy(big, "{\"model\":\"m\",\"messages\":[");
  for (int i = 0; i < 60; i++) strcat(big, i ? "," U1 : U1);
  strcat(big, "]}");
  TG_CHECK(tg_affinity_chain_of(&a, "m:latest", big, strlen(big)) == TG_AFF_BLOCKS);
  free(big);
}

typedef struct aff_cluster {
  tg_upstream_conf up;
  tg_server_conf s[3];
  tg_server_view v[3];
  tg_server_state *st[3];
} aff_cluster;

/* Three servers with m loaded, states from the process's table (the
 * affinity's per-server state is kept by their index): a new upstream
 * name each time, so that each test starts clean. */
static void aff_cluster_init(aff_cluster *c, const char *name, unsigned slots) {
  memset(c, 0, sizeof *c);
  c->up.name = (char *)name;
  for (unsigned i = 0; i < 3; i++) {
    c->s[i] = (tg_server_conf){.slots = slots, .weight = 1};
    c->s[i].addr.host = (char *)"127.0.0.1";
    c->s[i].addr.port = (uint16_t)(9000 + i);
    c->st[i] = tg_server_state_of(&c->up, &c->s[i]);
    tg_server_set_models(c->st[i], strdup("m:latest\n"));
    tg_server_set_loaded(c->st[i], strdup("m:latest\n"));
    c->v[i] = (tg_server_view){.conf = &c->s[i], .st = c->st[i]};
  }
}

static tg_affinity_req *req(const char *body, uint64_t slack) {
  return tg_affinity_req_new(4096, slack, "m:latest", body, strlen(body));
}

static int steer(aff_cluster *c, tg_affinity_req *r, int chosen) {
  return tg_affinity_steer(r, c->v, 3, chosen, "m:latest", 0, 0, 0);
}

static void test_follow_up_steered(void) {
  aff_cluster c;
  aff_cluster_init(&c, "aff-follow", 2);
  tg_affinity_req *r1 = req(CHAT(SYS "," U1), TG_AFF_SLACK_AUTO);
  TG_CHECK(r1 != NULL);
  TG_CHECK(steer(&c, r1, 0) == 0); /* nothing known: the routing's choice */
  tg_affinity_sent(r1, c.st[1], "m:latest", 0);
  TG_CHECK(r1->matched == 0 && r1->server == (int)tg_server_state_index(c.st[1]));
  tg_affinity_req *r2 = req(CHAT(SYS "," U1 "," A1 "," U2), TG_AFF_SLACK_AUTO);
  TG_CHECK(steer(&c, r2, 0) == 1 && steer(&c, r2, 2) == 1);
  tg_affinity_sent(r2, c.st[1], "m:latest", 0);
  TG_CHECK(r2->matched == 3 && r2->matched_tok == r1->chain.tokens[2]);
  tg_affinity_learned(r2, c.st[1], 100, r2->matched_tok, 1000000);
  tg_affinity_req *other = req(CHAT(SYS "," U2), TG_AFF_SLACK_AUTO); /* the same system prompt shares block 1 */
  TG_CHECK(steer(&c, other, 0) == 1);
  tg_affinity_req *none = req(CHAT(U2), TG_AFF_SLACK_AUTO);
  TG_CHECK(steer(&c, none, 2) == 2);
  c.st[1]->down = 1; /* down: not a candidate */
  TG_CHECK(steer(&c, r2, 0) == 0);
  c.st[1]->down = 0;
  TG_CHECK(tg_affinity_steer(NULL, c.v, 3, 2, "m:latest", 0, 0, 0) == 2);
  TG_CHECK(tg_affinity_steer(r2, c.v, 3, 2, "m:latest", 0, 1u << 1, 0) == 2); /* tried already */
  free(r1), free(r2), free(other), free(none);
}

/* Two new prompts on a server of two slots evict an older one; a
 * continued chat keeps its slot. */
static void test_eviction_by_new_prompts(void) {
  aff_cluster c;
  aff_cluster_init(&c, "aff-evict", 2);
  tg_affinity_req *a = req(CHAT(SYS "," U1), TG_AFF_SLACK_AUTO);
  tg_affinity_sent(a, c.st[0], "m:latest", 0);
  tg_affinity_req *cont = req(CHAT(SYS "," U1 "," A1 "," U2), TG_AFF_SLACK_AUTO);
  tg_affinity_sent(cont, c.st[0], "m:latest", 0); /* continues a: no new slot */
  tg_affinity_req *b = req(CHAT("{\"role\":\"user\",\"content\":\"b\"}"), TG_AFF_SLACK_AUTO);
  tg_affinity_sent(b, c.st[0], "m:latest", 0); /* one new prompt: two slots still hold both */
  tg_affinity_req *next = req(CHAT(SYS "," U1 "," A1 "," U2 "," A1), TG_AFF_SLACK_AUTO);
  TG_CHECK(steer(&c, next, 1) == 0);
  tg_affinity_req *d = req(CHAT("{\"role\":\"user\",\"content\":\"d\"}"), TG_AFF_SLACK_AUTO);
  tg_affinity_sent(d, c.st[0], "m:latest", 0); /* a second: the conversation's slot is probably gone */
  TG_CHECK(steer(&c, next, 1) == 1);
  free(a), free(cont), free(b), free(next), free(d);
}

static void test_forgotten_on_load_and_miss(void) {
  aff_cluster c;
  aff_cluster_init(&c, "aff-forget", 4);
  tg_affinity_req *a = req(CHAT(SYS "," U1), TG_AFF_SLACK_AUTO), *b = req(CHAT(U1), TG_AFF_SLACK_AUTO);
  tg_affinity_sent(a, c.st[2], "m:latest", 0);
  tg_affinity_sent(b, c.st[2], "m:latest", 0);
  tg_affinity_req *a2 = req(CHAT(SYS "," U1 "," A1), TG_AFF_SLACK_AUTO), *b2 = req(CHAT(U1 "," A1), TG_AFF_SLACK_AUTO);
  TG_CHECK(steer(&c, a2, 0) == 2 && steer(&c, b2, 0) == 2);
  /* b2's answer says nothing came from the cache: b's entry and a's, older, are forgotten */
  tg_affinity_sent(b2, c.st[2], "m:latest", 0);
  TG_CHECK(b2->matched == 2);
  tg_affinity_learned(b2, c.st[2], 40, 0, 4000000);
  TG_CHECK(steer(&c, a2, 0) == 0);
  tg_affinity_req *b3 = req(CHAT(U1 "," A1 "," U2), TG_AFF_SLACK_AUTO);
  TG_CHECK(steer(&c, b3, 0) == 2); /* what b2 itself left there stays */
  /* a load of the model there (not loaded): every entry forgotten */
  tg_server_set_loaded(c.st[2], strdup(""));
  tg_affinity_sent(a, c.st[2], "m:latest", 0);
  tg_server_set_loaded(c.st[2], strdup("m:latest\n"));
  TG_CHECK(steer(&c, b3, 0) == 0);
  TG_CHECK(steer(&c, a2, 0) == 2); /* a, sent with the load, is there */
  free(a), free(b), free(a2), free(b2), free(b3);
}

/* Busy: within the slack it waits for its server, past it the free one. */
static void test_busy_and_slack(void) {
  aff_cluster c;
  aff_cluster_init(&c, "aff-busy", 1);
  tg_affinity_req *a = req(CHAT(SYS "," U1), 0);
  tg_affinity_sent(a, c.st[1], "m:latest", 0);
  tg_affinity_req *next = req(CHAT(SYS "," U1 "," A1), 0);
  TG_CHECK(steer(&c, next, 0) == 1);
  c.st[1]->in_flight = 1; /* its only slot is taken: any wait is past 0 */
  TG_CHECK(steer(&c, next, 0) == 0);
  next->slack_ms = 3600 * 1000;
  TG_CHECK(steer(&c, next, 0) == 1);
  next->slack_ms = TG_AFF_SLACK_AUTO; /* no rate learned yet: no gain to wait for */
  TG_CHECK(steer(&c, next, 0) == 0);
  c.st[1]->in_flight = 0;
  TG_CHECK(tg_affinity_req_new(0, 0, "m:latest", CHAT(U1), strlen(CHAT(U1))) == NULL); /* table off */
  free(a), free(next);
}

void tg_suite_affinity(void) {
  TG_RUN(test_chain_chat);
  TG_RUN(test_chain_generate_and_junk);
  TG_RUN(test_follow_up_steered);
  TG_RUN(test_eviction_by_new_prompts);
  TG_RUN(test_forgotten_on_load_and_miss);
  TG_RUN(test_busy_and_slack);
}
