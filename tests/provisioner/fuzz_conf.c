// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* libFuzzer target: any text through the config parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct prov_conf c;
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	conf_parse("fuzz", text, &c, NULL);
	free(text);
	return 0;
}
