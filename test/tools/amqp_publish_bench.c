/*
 * amqp_publish_bench URL N SIZE: the broker's raw rate for the benchmark:
 * N persistent messages of SIZE bytes published one at a time with publisher
 * confirms (as the worker does) to exchange "invoiceflow", routing key
 * ROUTING_KEY (argv[4], default "bench.raw", bound to no queue). Prints messages/s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "amqp_client.h"

int
main(int argc, char **argv)
{
	amqpc_config cfg = {0};
	amqpc_error err = {0};
	amqpc_client *c;
	int			n = argc > 2 ? atoi(argv[2]) : 1000;
	size_t		size = argc > 3 ? (size_t) atol(argv[3]) : 300;
	char	   *body;
	struct timespec t0, t1;
	int			i;
	const char *rk = argc > 4 ? argv[4] : "bench.raw";

	if (argc < 2)
	{
		fprintf(stderr, "usage: amqp_publish_bench URL [N] [SIZE] [ROUTING_KEY]\n");
		return 2;
	}
	cfg.url = argv[1];
	c = amqpc_connect(&cfg, &err);
	if (c == NULL || amqpc_declare_topology(c, &err) != AMQPC_OK)
	{
		fprintf(stderr, "amqp_publish_bench: %s\n", err.message);
		return 1;
	}
	body = malloc(size);
	memset(body, 'x', size);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++)
	{
		char		id[32];

		snprintf(id, sizeof(id), "bench-%d", i);
		if (amqpc_publish(c, NULL, rk, id, NULL, body, size, &err) != AMQPC_OK)
		{
			fprintf(stderr, "amqp_publish_bench: %s\n", err.message);
			free(body);
			amqpc_close(c);
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%.0f\n", n / ((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9));
	free(body);
	amqpc_close(c);
	return 0;
}
