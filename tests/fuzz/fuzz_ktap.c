/* libFuzzer: the KTAP parser and console classifier on arbitrary console
 * bytes, split into lines as the runner does. */
#include "../../runner/console.h"
#include "../../runner/ktap.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static void on_result(void *data, const struct ktap_result *r)
{
	size_t *n = data;

	/* every callback gets a valid, terminated name and reason */
	*n += strlen(r->name) + strlen(r->reason) + (size_t)r->depth;
}

static void on_line(void *data, const char *line, size_t len)
{
	struct ktap *k = data;

	(void)console_classify(line, len);
	ktap_feed(k, line, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct linebuf lb;
	struct ktap k;
	size_t n = 0;

	ktap_init(&k, on_result, &n);
	lb.len = 0;
	k.data = &n;
	linebuf_feed(&lb, (const char *)data, size, on_line, &k);
	linebuf_flush(&lb, on_line, &k);
	ktap_release(&k);
	return 0;
}
