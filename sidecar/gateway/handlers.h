/* handlers.h: one function per endpoint (see routes.c for the table). */
#ifndef GATEWAY_HANDLERS_H
#define GATEWAY_HANDLERS_H

#include "routes.h"

/* handlers_ingest.c: the seed's ingestion API */
void		handle_upload(struct request *req, struct reply *out);
void		handle_status(struct request *req, struct reply *out);
void		handle_stats(struct request *req, struct reply *out);
void		handle_ingest_health(struct request *req, struct reply *out);

/* handlers_ops.c: probes and metrics */
void		handle_liveness(struct request *req, struct reply *out);
void		handle_ready(struct request *req, struct reply *out);
void		handle_metrics(struct request *req, struct reply *out);

#endif
