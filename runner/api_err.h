/* A read query's failure as the API reports it: an HTTP status and a
 * message (the read modules share it without depending on api.c). */
#ifndef KFARM_API_ERR_H
#define KFARM_API_ERR_H

struct api_err {
	int code;
	char msg[256];
};

#endif
