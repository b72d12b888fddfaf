/* api.h: the model-taking POST routes (api.c), called by routes.c. */
#ifndef MOCK_OLLAMA_API_H
#define MOCK_OLLAMA_API_H

#include "mock.h"

void mock_api_generation(mock_conn_t *c, mock_kind_t kind);
void mock_api_pull(mock_conn_t *c);
void mock_api_show(mock_conn_t *c);
void mock_api_embed(mock_conn_t *c);
void mock_api_embeddings(mock_conn_t *c);

#endif
