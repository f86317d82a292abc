/* Licensed under the Apache License, Version 2.0: see LICENSE and NOTICE.
 *
 * plog_svg: one SVG graph per process: the process total on top, the
 * pools that grew most below, against the x axis of the model.
 */
#ifndef PLOG_SVG_H
#define PLOG_SVG_H

#include <stdio.h>

#include "plog_model.h"

/* Writes the graph of pr; top[0..ntop) are the pools to draw. */
void plog_svg_write(FILE *f, const plog_model_t *m, const plog_proc_t *pr,
                    const plog_pool_t *const *top, unsigned int ntop);

#endif /* PLOG_SVG_H */
