/*
 * gas-media's in-process bridge to FFmpeg's libraries (libavformat, libavcodec, libavfilter).
 *
 * Kept deliberately small: Rust (src/ffmpeg/libav.rs) drives it through a handful of functions
 * with plain C types, so no FFmpeg struct layout crosses the language boundary and the
 * headers of whatever FFmpeg version is installed (5.1 on Debian 12; 4.4 and 6/7 compile too)
 * decide every field offset.
 *
 * Video: open (file or memory) -> best video stream (av_find_best_stream) -> single-threaded
 * decoder -> per frame, on request only, the filter graph "[transpose,]scale=W:H:flags=bilinear"
 * with an rgb24 buffersink (the conversion the network's decoder performs) -> RGB rows.
 * Audio: open -> the audio stream FFmpeg's command line would pick -> decoder -> filter graph
 * "aformat=sample_fmts=flt:sample_rates=R:channel_layouts=mono" (the command line's
 * `-ac 1 -ar R -f f32le`; FFmpeg inserts the same aresample/swr conversion) -> samples to a
 * callback.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>

#if LIBAVUTIL_VERSION_INT >= AV_VERSION_INT(57, 24, 100)
#define GAS_CH_LAYOUT 1
#endif

/* ------------------------------------------------------------------------------------------ */
/* shared: input (file or memory), errors                                                      */

typedef struct {
    const uint8_t *data;
    size_t len;
    size_t pos;
} MemInput;

static int mem_read(void *opaque, uint8_t *buf, int size) {
    MemInput *m = opaque;
    size_t left = m->len - m->pos;
    if (left == 0) return AVERROR_EOF;
    size_t n = (size_t)size < left ? (size_t)size : left;
    memcpy(buf, m->data + m->pos, n);
    m->pos += n;
    return (int)n;
}

static int64_t mem_seek(void *opaque, int64_t offset, int whence) {
    MemInput *m = opaque;
    int64_t base;
    switch (whence & ~AVSEEK_FORCE) {
    case AVSEEK_SIZE: return (int64_t)m->len;
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = (int64_t)m->pos; break;
    case SEEK_END: base = (int64_t)m->len; break;
    default: return AVERROR(EINVAL);
    }
    int64_t p = base + offset;
    if (p < 0 || p > (int64_t)m->len) return AVERROR(EINVAL);
    m->pos = (size_t)p;
    return p;
}

typedef struct {
    AVFormatContext *fmt;
    AVIOContext *avio;
    MemInput mem;
} Input;

static void set_err(char *err, size_t errlen, const char *what, int code) {
    if (!err || errlen == 0) return;
    if (code < 0) {
        char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
        av_strerror(code, buf, sizeof buf);
        snprintf(err, errlen, "%s: %s", what, buf);
    } else {
        snprintf(err, errlen, "%s", what);
    }
}

static void input_close(Input *in) {
    if (in->fmt) avformat_close_input(&in->fmt);
    if (in->avio) {
        av_freep(&in->avio->buffer);
        avio_context_free(&in->avio);
    }
}

/* Opens `path`, or the `len` bytes at `data` when path is NULL, and reads stream info. */
static int input_open(Input *in, const char *path, const uint8_t *data, size_t len, char *err,
                      size_t errlen) {
    memset(in, 0, sizeof *in);
    int ret;
    if (!path) {
        in->mem.data = data;
        in->mem.len = len;
        const int bufsize = 1 << 16;
        uint8_t *buf = av_malloc(bufsize);
        if (!buf) return AVERROR(ENOMEM);
        in->avio = avio_alloc_context(buf, bufsize, 0, &in->mem, mem_read, NULL, mem_seek);
        if (!in->avio) {
            av_free(buf);
            return AVERROR(ENOMEM);
        }
        in->fmt = avformat_alloc_context();
        if (!in->fmt) return AVERROR(ENOMEM);
        in->fmt->pb = in->avio;
        in->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    }
    ret = avformat_open_input(&in->fmt, path, NULL, NULL);
    if (ret < 0) {
        set_err(err, errlen, "cannot open input", ret);
        return ret;
    }
    ret = avformat_find_stream_info(in->fmt, NULL);
    if (ret < 0) {
        set_err(err, errlen, "cannot read stream info", ret);
        return ret;
    }
    return 0;
}

static int open_decoder(AVStream *st, int threads, AVCodecContext **out, char *err,
                        size_t errlen) {
    const AVCodec *codec = avcodec_find_decoder(st->codecpar->codec_id);
    if (!codec) {
        set_err(err, errlen, "no decoder for this codec", -1);
        return AVERROR_DECODER_NOT_FOUND;
    }
    AVCodecContext *dec = avcodec_alloc_context3(codec);
    if (!dec) return AVERROR(ENOMEM);
    int ret = avcodec_parameters_to_context(dec, st->codecpar);
    if (ret >= 0) {
        dec->thread_count = threads;
        dec->pkt_timebase = st->time_base;
        ret = avcodec_open2(dec, codec, NULL);
    }
    if (ret < 0) {
        set_err(err, errlen, "cannot open decoder", ret);
        avcodec_free_context(&dec);
        return ret;
    }
    *out = dec;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* video                                                                                       */

typedef struct {
    int width, height;     /* as decoded (codec parameters), before rotation */
    int fps_num, fps_den;  /* the stream's avg_frame_rate */
    int64_t nb_frames;     /* container's frame count, 0 when unknown */
    int64_t duration_us;   /* container duration in microseconds, < 0 when unknown */
    int rotation;          /* 0, 90, 180 or 270 (clockwise, applied to the output) */
    int codec_id;          /* AVCodecID */
} GasVideoInfo;

typedef struct {
    Input in;
    int stream;
    AVCodecContext *dec;
    AVPacket *pkt;
    AVFrame *frame;
    AVFrame *rgb;
    AVFilterGraph *graph;
    AVFilterContext *src, *sink;
    int rotation;
    int out_w, out_h;
    int sent_eof;
    int done;
    GasVideoInfo info;
} GasVideo;

static double stream_rotation(AVStream *st) {
    double theta = 0;
    AVDictionaryEntry *rotate = av_dict_get(st->metadata, "rotate", NULL, 0);
    if (rotate && *rotate->value && strcmp(rotate->value, "0")) theta = atof(rotate->value);
    const uint8_t *matrix = NULL;
#if LIBAVCODEC_VERSION_INT >= AV_VERSION_INT(60, 29, 100)
    const AVPacketSideData *sd =
        av_packet_side_data_get(st->codecpar->coded_side_data, st->codecpar->nb_coded_side_data,
                                AV_PKT_DATA_DISPLAYMATRIX);
    if (sd) matrix = sd->data;
#else
    matrix = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, NULL);
#endif
    if (matrix && !theta) theta = -av_display_rotation_get((const int32_t *)matrix);
    theta = fmod(theta, 360);
    if (theta < 0) theta += 360;
    return theta;
}

void gas_video_close(GasVideo *v) {
    if (!v) return;
    avfilter_graph_free(&v->graph);
    av_frame_free(&v->rgb);
    av_frame_free(&v->frame);
    av_packet_free(&v->pkt);
    avcodec_free_context(&v->dec);
    input_close(&v->in);
    free(v);
}

GasVideo *gas_video_open(const char *path, const uint8_t *data, size_t len, char *err,
                         size_t errlen) {
    GasVideo *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    if (input_open(&v->in, path, data, len, err, errlen) < 0) goto fail;
    v->stream = av_find_best_stream(v->in.fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (v->stream < 0) {
        set_err(err, errlen, "no video stream", v->stream);
        goto fail;
    }
    AVStream *st = v->in.fmt->streams[v->stream];
    for (unsigned i = 0; i < v->in.fmt->nb_streams; i++)
        if ((int)i != v->stream) v->in.fmt->streams[i]->discard = AVDISCARD_ALL;
    if (open_decoder(st, 1, &v->dec, err, errlen) < 0) goto fail;
    v->pkt = av_packet_alloc();
    v->frame = av_frame_alloc();
    v->rgb = av_frame_alloc();
    if (!v->pkt || !v->frame || !v->rgb) {
        set_err(err, errlen, "out of memory", -1);
        goto fail;
    }
    int rot = (int)stream_rotation(st);
    v->rotation = (rot == 90 || rot == 180 || rot == 270) ? rot : 0;
    v->info.width = st->codecpar->width;
    v->info.height = st->codecpar->height;
    v->info.fps_num = st->avg_frame_rate.num;
    v->info.fps_den = st->avg_frame_rate.den;
    v->info.nb_frames = st->nb_frames;
    v->info.duration_us = v->in.fmt->duration == AV_NOPTS_VALUE ? -1 : v->in.fmt->duration;
    v->info.rotation = v->rotation;
    v->info.codec_id = st->codecpar->codec_id;
    v->out_w = st->codecpar->width;
    v->out_h = st->codecpar->height;
    if (v->rotation == 90 || v->rotation == 270) {
        int t = v->out_w;
        v->out_w = v->out_h;
        v->out_h = t;
    }
    return v;
fail:
    gas_video_close(v);
    return NULL;
}

void gas_video_info(const GasVideo *v, GasVideoInfo *info) { *info = v->info; }

/* The conversion graph, built from the decoder's parameters at the first converted frame. */
static int build_video_graph(GasVideo *v, const AVFrame *f, char *err, size_t errlen) {
    char args[512], descr[160];
    int ret;
    v->graph = avfilter_graph_alloc();
    if (!v->graph) return AVERROR(ENOMEM);
    v->graph->nb_threads = 1;
    AVRational tb = v->in.fmt->streams[v->stream]->time_base;
    AVRational sar = f->sample_aspect_ratio;
    snprintf(args, sizeof args,
             "video_size=%dx%d:pix_fmt=%d:time_base=%d/%d:pixel_aspect=%d/%d", f->width,
             f->height, f->format, tb.num, tb.den > 0 ? tb.den : 1, sar.num,
             sar.den > 0 ? sar.den : 1);
    ret = avfilter_graph_create_filter(&v->src, avfilter_get_by_name("buffer"), "in", args,
                                       NULL, v->graph);
    if (ret < 0) goto fail;
    ret = avfilter_graph_create_filter(&v->sink, avfilter_get_by_name("buffersink"), "out",
                                       NULL, NULL, v->graph);
    if (ret < 0) goto fail;
    enum AVPixelFormat fmts[] = {AV_PIX_FMT_RGB24, AV_PIX_FMT_NONE};
    ret = av_opt_set_int_list(v->sink, "pix_fmts", fmts, AV_PIX_FMT_NONE,
                              AV_OPT_SEARCH_CHILDREN);
    if (ret < 0) goto fail;
    const char *rot = v->rotation == 90    ? "transpose=1,"
                      : v->rotation == 180 ? "transpose=1,transpose=1,"
                      : v->rotation == 270 ? "transpose=2,"
                                           : "";
    snprintf(descr, sizeof descr, "%sscale=%d:%d:flags=bilinear", rot, v->out_w, v->out_h);
    AVFilterInOut *outputs = avfilter_inout_alloc();
    AVFilterInOut *inputs = avfilter_inout_alloc();
    if (!outputs || !inputs) {
        avfilter_inout_free(&outputs);
        avfilter_inout_free(&inputs);
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    outputs->name = av_strdup("in");
    outputs->filter_ctx = v->src;
    inputs->name = av_strdup("out");
    inputs->filter_ctx = v->sink;
    ret = avfilter_graph_parse_ptr(v->graph, descr, &inputs, &outputs, NULL);
    avfilter_inout_free(&outputs);
    avfilter_inout_free(&inputs);
    if (ret < 0) goto fail;
    ret = avfilter_graph_config(v->graph, NULL);
    if (ret < 0) goto fail;
    return 0;
fail:
    set_err(err, errlen, "cannot set up the pixel conversion", ret);
    avfilter_graph_free(&v->graph);
    return ret;
}

/* Decodes the next frame in output (presentation) order.
 * Returns 1 with a frame (converted to RGB rows in data, linesize, w, h when `convert`),
 * 0 at the end of the stream, < 0 on error. The RGB rows stay valid until the next call. */
int gas_video_next(GasVideo *v, int convert, int64_t *pts, const uint8_t **data, int *linesize,
                   int *w, int *h, char *err, size_t errlen) {
    int ret;
    if (v->done) return 0;
    for (;;) {
        ret = avcodec_receive_frame(v->dec, v->frame);
        if (ret == 0) break;
        if (ret == AVERROR_EOF) {
            v->done = 1;
            return 0;
        }
        if (ret != AVERROR(EAGAIN)) {
            set_err(err, errlen, "decoding failed", ret);
            return ret;
        }
        if (v->sent_eof) {
            v->done = 1;
            return 0;
        }
        /* feed the next packet of our stream */
        for (;;) {
            ret = av_read_frame(v->in.fmt, v->pkt);
            if (ret < 0) {
                avcodec_send_packet(v->dec, NULL);
                v->sent_eof = 1;
                break;
            }
            if (v->pkt->stream_index != v->stream) {
                av_packet_unref(v->pkt);
                continue;
            }
            ret = avcodec_send_packet(v->dec, v->pkt);
            av_packet_unref(v->pkt);
            if (ret < 0 && ret != AVERROR(EAGAIN) && ret != AVERROR_INVALIDDATA) {
                set_err(err, errlen, "decoding failed", ret);
                return ret;
            }
            break;
        }
    }
    if (pts) *pts = v->frame->best_effort_timestamp;
    if (!convert) {
        av_frame_unref(v->frame);
        return 1;
    }
    if (!v->graph && (ret = build_video_graph(v, v->frame, err, errlen)) < 0) {
        av_frame_unref(v->frame);
        return ret;
    }
    ret = av_buffersrc_add_frame_flags(v->src, v->frame, 0);
    av_frame_unref(v->frame);
    if (ret < 0) {
        set_err(err, errlen, "pixel conversion failed", ret);
        return ret;
    }
    av_frame_unref(v->rgb);
    ret = av_buffersink_get_frame(v->sink, v->rgb);
    if (ret < 0) {
        set_err(err, errlen, "pixel conversion gave no frame", ret);
        return ret;
    }
    *data = v->rgb->data[0];
    *linesize = v->rgb->linesize[0];
    *w = v->rgb->width;
    *h = v->rgb->height;
    return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* audio                                                                                       */

typedef void (*gas_audio_sink)(void *ctx, const float *samples, int n);

static int pick_audio_stream(AVFormatContext *fmt) {
    /* FFmpeg's command line: the audio stream with the most channels (default disposition
     * preferred), the first one on ties. */
    int best = -1;
    int64_t best_score = -1;
    for (unsigned i = 0; i < fmt->nb_streams; i++) {
        AVCodecParameters *par = fmt->streams[i]->codecpar;
        if (par->codec_type != AVMEDIA_TYPE_AUDIO) continue;
#ifdef GAS_CH_LAYOUT
        int64_t ch = par->ch_layout.nb_channels;
#else
        int64_t ch = par->channels;
#endif
        int64_t score =
            ch + 5000000LL * !!(fmt->streams[i]->disposition & AV_DISPOSITION_DEFAULT);
        if (score > best_score) {
            best_score = score;
            best = (int)i;
        }
    }
    return best;
}

static int drain_sink(AVFilterContext *sink, AVFrame *out, gas_audio_sink cb, void *ctx,
                      int64_t *total, int64_t max_samples) {
    int ret;
    while ((ret = av_buffersink_get_frame(sink, out)) >= 0) {
        *total += out->nb_samples;
        if (max_samples > 0 && *total > max_samples) {
            av_frame_unref(out);
            return AVERROR(E2BIG);
        }
        cb(ctx, (const float *)out->data[0], out->nb_samples);
        av_frame_unref(out);
    }
    return ret == AVERROR(EAGAIN) || ret == AVERROR_EOF ? 0 : ret;
}

static int build_audio_graph(AVFilterGraph **graph, AVFilterContext **src, AVFilterContext **sink,
                             AVRational tb, const AVFrame *f, int rate) {
    char args[512], layout[128] = "", descr[160];
    int ret;
    *graph = avfilter_graph_alloc();
    if (!*graph) return AVERROR(ENOMEM);
    (*graph)->nb_threads = 1;
#ifdef GAS_CH_LAYOUT
    AVChannelLayout ch = {0}; /* av_channel_layout_copy uninits its destination first */
    if (f->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC)
        av_channel_layout_default(&ch, f->ch_layout.nb_channels);
    else if ((ret = av_channel_layout_copy(&ch, &f->ch_layout)) < 0)
        return ret;
    av_channel_layout_describe(&ch, layout, sizeof layout);
    av_channel_layout_uninit(&ch);
#else
    uint64_t cl = f->channel_layout ? f->channel_layout
                                    : (uint64_t)av_get_default_channel_layout(f->channels);
    snprintf(layout, sizeof layout, "0x%" PRIx64, cl);
#endif
    snprintf(args, sizeof args, "time_base=%d/%d:sample_rate=%d:sample_fmt=%s:channel_layout=%s",
             tb.num, tb.den > 0 ? tb.den : 1, f->sample_rate,
             av_get_sample_fmt_name(f->format), layout);
    ret = avfilter_graph_create_filter(src, avfilter_get_by_name("abuffer"), "in", args, NULL,
                                       *graph);
    if (ret < 0) return ret;
    ret = avfilter_graph_create_filter(sink, avfilter_get_by_name("abuffersink"), "out", NULL,
                                       NULL, *graph);
    if (ret < 0) return ret;
    snprintf(descr, sizeof descr, "aformat=sample_fmts=flt:sample_rates=%d:channel_layouts=mono",
             rate);
    AVFilterInOut *outputs = avfilter_inout_alloc();
    AVFilterInOut *inputs = avfilter_inout_alloc();
    if (!outputs || !inputs) {
        avfilter_inout_free(&outputs);
        avfilter_inout_free(&inputs);
        return AVERROR(ENOMEM);
    }
    outputs->name = av_strdup("in");
    outputs->filter_ctx = *src;
    inputs->name = av_strdup("out");
    inputs->filter_ctx = *sink;
    ret = avfilter_graph_parse_ptr(*graph, descr, &inputs, &outputs, NULL);
    avfilter_inout_free(&outputs);
    avfilter_inout_free(&inputs);
    if (ret < 0) return ret;
    return avfilter_graph_config(*graph, NULL);
}

/* Decodes the whole audio stream to mono float samples at `rate`, handed to `cb` in order.
 * Fails with E2BIG beyond `max_samples` (> 0). Returns the number of samples or < 0. */
int64_t gas_audio_decode(const char *path, const uint8_t *data, size_t len, int rate,
                         int64_t max_samples, gas_audio_sink cb, void *ctx, char *err,
                         size_t errlen) {
    Input in;
    AVCodecContext *dec = NULL;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *frame = av_frame_alloc(), *out = av_frame_alloc();
    AVFilterGraph *graph = NULL;
    AVFilterContext *src = NULL, *sink = NULL;
    int64_t total = 0;
    int ret;
    if (!pkt || !frame || !out) {
        ret = AVERROR(ENOMEM);
        set_err(err, errlen, "out of memory", -1);
        memset(&in, 0, sizeof in);
        goto end;
    }
    ret = input_open(&in, path, data, len, err, errlen);
    if (ret < 0) goto end;
    int si = pick_audio_stream(in.fmt);
    if (si < 0) {
        ret = AVERROR_STREAM_NOT_FOUND;
        set_err(err, errlen, "no audio stream", -1);
        goto end;
    }
    AVStream *st = in.fmt->streams[si];
    for (unsigned i = 0; i < in.fmt->nb_streams; i++)
        if ((int)i != si) in.fmt->streams[i]->discard = AVDISCARD_ALL;
    ret = open_decoder(st, 0, &dec, err, errlen);
    if (ret < 0) goto end;
    int eof = 0;
    while (!eof) {
        ret = av_read_frame(in.fmt, pkt);
        if (ret < 0) {
            eof = 1;
            ret = avcodec_send_packet(dec, NULL);
        } else if (pkt->stream_index != si) {
            av_packet_unref(pkt);
            continue;
        } else {
            ret = avcodec_send_packet(dec, pkt);
            av_packet_unref(pkt);
        }
        /* corrupt packets are skipped, as the command line does */
        if (ret < 0 && ret != AVERROR(EAGAIN) && ret != AVERROR_EOF && ret != AVERROR_INVALIDDATA) {
            set_err(err, errlen, "decoding failed", ret);
            goto end;
        }
        for (;;) {
            ret = avcodec_receive_frame(dec, frame);
            /* EAGAIN/EOF: feed more; a corrupt frame is skipped, as the command line does */
            if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF || ret == AVERROR_INVALIDDATA) break;
            if (ret < 0) {
                set_err(err, errlen, "decoding failed", ret);
                goto end;
            }
            if (!graph) {
                ret = build_audio_graph(&graph, &src, &sink, st->time_base, frame, rate);
                if (ret < 0) {
                    set_err(err, errlen, "cannot set up the resampler", ret);
                    av_frame_unref(frame);
                    goto end;
                }
            }
            ret = av_buffersrc_add_frame_flags(src, frame, 0);
            av_frame_unref(frame);
            if (ret < 0) {
                set_err(err, errlen, "resampling failed", ret);
                goto end;
            }
            ret = drain_sink(sink, out, cb, ctx, &total, max_samples);
            if (ret < 0) {
                set_err(err, errlen, ret == AVERROR(E2BIG) ? "audio too long" : "resampling failed",
                        ret == AVERROR(E2BIG) ? -1 : ret);
                goto end;
            }
        }
    }
    if (graph) {
        ret = av_buffersrc_add_frame_flags(src, NULL, 0);
        if (ret >= 0) ret = drain_sink(sink, out, cb, ctx, &total, max_samples);
        if (ret < 0) {
            set_err(err, errlen, ret == AVERROR(E2BIG) ? "audio too long" : "resampling failed",
                    ret == AVERROR(E2BIG) ? -1 : ret);
            goto end;
        }
    }
    ret = 0;
end:
    avfilter_graph_free(&graph);
    av_frame_free(&out);
    av_frame_free(&frame);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    input_close(&in);
    return ret < 0 ? ret : total;
}

/* Silences FFmpeg's own logging (errors are reported through the return values). */
void gas_av_quiet(void) { av_log_set_level(AV_LOG_QUIET); }
