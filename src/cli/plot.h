/* plot.h: a small SVG chart writer for yoke bench --plot (points and lines, no dependencies). */
#ifndef YOKE_CLI_PLOT_H
#define YOKE_CLI_PLOT_H

#include <stdbool.h>
#include <stdio.h>

typedef struct {
    const char *name;    /* legend */
    const char *color;   /* "#1f77b4" */
    bool dashed;
    int n;
    const double *x, *y;
    const char *const *labels; /* per point, or NULL */
} plot_series;

/* Writes an SVG line chart of the series to path; false on an I/O error. */
bool plot_svg(const char *path, const char *title, const char *xlabel, const char *ylabel, const plot_series *s, int ns);

#endif
