/*
 * metrics.h: Prometheus counters, histograms and gauges of the gateway, in base
 * units (seconds, bytes), all named invoiceflow_*. Lock-free atomic counters.
 */
#ifndef GATEWAY_METRICS_H
#define GATEWAY_METRICS_H

#include <stddef.h>
#include <stdint.h>

void		metrics_init(void);
void		metrics_shutdown(void);
void		metrics_observe_request(size_t route_idx, unsigned int status, double seconds);
void		metrics_add_upload_bytes(uint64_t n);
void		metrics_upload_refused(void);
void		metrics_add_download_bytes(uint64_t n);
void		metrics_inflight_add(int delta);
int			metrics_inflight(void);
void		metrics_uploads_add(int delta);

/* The exposition text (malloc'd), and its length. */
char	   *metrics_render(size_t *len);

#endif
