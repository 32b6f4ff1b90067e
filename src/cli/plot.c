/* plot.c: see plot.h. Axes from 0 to a rounded maximum, a grid, one polyline per series. The file
 * is written all or nothing (yoke/outfile.h): an older chart at path stays until the new one is
 * complete. */
#include "plot.h"
#include "yoke/outfile.h"

#include <math.h>

static double nice_max(double v)
{
    if (v <= 0) return 1;
    double p = pow(10, floor(log10(v)));
    for (double m = 1; m <= 10; m += 0.5)
        if (m * p >= v) return m * p;
    return 10 * p;
}

bool plot_svg(const char *path, const char *title, const char *xlabel, const char *ylabel, const plot_series *s, int ns)
{
    yk_outfile out;
    if (yk_outfile_open(&out, path, NULL)) return false;
    FILE *f = out.f;
    const double W = 640, H = 420, L = 70, R = 170, T = 40, B = 60;
    double xmax = 0, ymax = 0;
    for (int i = 0; i < ns; i++)
        for (int j = 0; j < s[i].n; j++) {
            if (s[i].x[j] > xmax) xmax = s[i].x[j];
            if (s[i].y[j] > ymax) ymax = s[i].y[j];
        }
    xmax = nice_max(xmax);
    ymax = nice_max(ymax * 1.1);
#define PX(v) (L + (v) / xmax * (W - L - R))
#define PY(v) (H - B - (v) / ymax * (H - T - B))
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%.0f\" y=\"22\" font-size=\"15\">%s</text>\n", L, title);
    for (int k = 0; k <= 5; k++) {
        double yv = ymax * k / 5, xv = xmax * k / 5;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, PY(yv), W - R, PY(yv));
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", L - 6, PY(yv) + 4, yv);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", PX(xv), H - B + 18, xv);
    }
    fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n", L, H - B, W - R, H - B);
    fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n", L, T, L, H - B);
    fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%s</text>\n", (L + W - R) / 2, H - 18, xlabel);
    fprintf(f, "<text transform=\"translate(18 %.1f) rotate(-90)\" text-anchor=\"middle\">%s</text>\n", (T + H - B) / 2, ylabel);
    for (int i = 0; i < ns; i++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", s[i].color,
                s[i].dashed ? " stroke-dasharray=\"6 4\"" : "");
        for (int j = 0; j < s[i].n; j++) fprintf(f, "%.1f,%.1f ", PX(s[i].x[j]), PY(s[i].y[j]));
        fprintf(f, "\"/>\n");
        for (int j = 0; j < s[i].n; j++) {
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n", PX(s[i].x[j]), PY(s[i].y[j]), s[i].color);
            if (s[i].labels && s[i].labels[j])
                fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\">%s</text>\n", PX(s[i].x[j]) + 6, PY(s[i].y[j]) - 6, s[i].labels[j]);
        }
        double ly = T + 20 + 20 * i;
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>\n", W - R + 15, ly, W - R + 40,
                ly, s[i].color, s[i].dashed ? " stroke-dasharray=\"6 4\"" : "");
        fprintf(f, "<text x=\"%.0f\" y=\"%.1f\">%s</text>\n", W - R + 46, ly + 4, s[i].name);
    }
    fprintf(f, "</svg>\n");
#undef PX
#undef PY
    return yk_outfile_commit(&out, NULL) == YK_OK;
}
