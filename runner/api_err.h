/* A read query's failure as the API reports it: now struct err (err.h),
 * under its old name until the callers are renamed. */
#ifndef KFARM_API_ERR_H
#define KFARM_API_ERR_H

#include "err.h"

#define api_err err

#endif
