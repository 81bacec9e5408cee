#include "dbstmt.h"
#include "util.h"

#include <pthread.h>

#define SLOTS 512	/* server threads x the read side's few dozen queries */

static struct kept {
	sqlite3 *db;	/* NULL: a free slot */
	const char *sql;
	sqlite3_stmt *s;
	int busy;
} kept[SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

sqlite3_stmt *dbstmt_get(sqlite3 *db, const char *sql)
{
	struct kept *k, *free_slot = NULL;
	sqlite3_stmt *s = NULL;

	pthread_mutex_lock(&lock);
	for (k = kept; k < kept + SLOTS; k++)
		if (k->db == db && k->sql == sql && !k->busy) {
			k->busy = 1;
			s = k->s;
			break;
		}
	pthread_mutex_unlock(&lock);
	if (s)
		return s;
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) {
		sqlite3_finalize(s);
		return NULL;
	}
	pthread_mutex_lock(&lock);
	for (k = kept; k < kept + SLOTS && !free_slot; k++)
		if (!k->db)
			free_slot = k;
	if (free_slot)
		*free_slot = (struct kept){ db, sql, s, 1 };
	pthread_mutex_unlock(&lock);
	return s;
}

void dbstmt_put(sqlite3_stmt *s)
{
	struct kept *k;

	if (!s)
		return;
	pthread_mutex_lock(&lock);
	for (k = kept; k < kept + SLOTS; k++)
		if (k->db && k->s == s) {
			sqlite3_reset(s);
			sqlite3_clear_bindings(s);
			k->busy = 0;
			pthread_mutex_unlock(&lock);
			return;
		}
	pthread_mutex_unlock(&lock);
	sqlite3_finalize(s);
}

void dbstmt_forget(sqlite3 *db)
{
	pthread_mutex_lock(&lock);
	for (struct kept *k = kept; k < kept + SLOTS; k++)
		if (db && k->db == db) {
			sqlite3_finalize(k->s);
			*k = (struct kept){ 0 };
		}
	pthread_mutex_unlock(&lock);
}
