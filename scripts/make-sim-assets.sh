#!/bin/sh
# Regenerates the simulator's committed media asset (run once; the result is committed so
# the simulator needs no ffmpeg at run time).
#
# clip.h264: a real H.264 Annex-B elementary stream, 320x180, 10 fps, 4 s, constrained
# baseline, ONE IDR at the start and P-frames after it.  The simulator restarts the clip at
# its IDR every camera's keyframe_interval (at most the clip length), so any prefix
# IDR,P,P,... it plays is decodable and keyframes come exactly as often as configured.
set -eu
out="$(dirname "$0")/../monitor/simulator/assets/clip.h264"
ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc2=size=320x180:rate=10:duration=4" \
  -c:v libx264 -profile:v baseline -level 3.0 -pix_fmt yuv420p -threads 1 \
  -x264-params "keyint=40:min-keyint=40:scenecut=0:bframes=0:slices=1" \
  -crf 32 -bsf:v "filter_units=remove_types=6" -f h264 "$out"
ls -l "$out"

# keyframes.h264: eight IDR frames of the same scene one second apart, encoded with the
# clip's settings (so they share its SPS and PPS).  The simulator plays one of them at
# every restart of the clip: a live camera's keyframes change (its clock, anything that
# moves), and the picture check must see that; a "frozen" camera keeps the clip's own IDR.
keys="$(dirname "$0")/../monitor/simulator/assets/keyframes.h264"
: > "$keys"
for i in 0 1 2 3 4 5 6 7; do
  ffmpeg -hide_banner -loglevel error -y \
    -f lavfi -i "testsrc2=size=320x180:rate=10:duration=12" -ss "$((i + 1)).0" -frames:v 1 \
    -c:v libx264 -profile:v baseline -level 3.0 -pix_fmt yuv420p -threads 1 \
    -x264-params "keyint=40:min-keyint=40:scenecut=0:bframes=0:slices=1" \
    -crf 32 -bsf:v "filter_units=remove_types=6" -f h264 - >> "$keys"
done
ls -l "$keys"
