"""How models/avatar/default.png was made (run by hand once; not part of install or tests).

Source: the NASA portrait of Eileen Collins (public domain) that scikit-image ships as
skimage/data/astronaut.png. We crop a 16:9 head-and-shoulders frame around the face and scale it to
1280x720, the default output size, so the face is about 260 px tall and no resampling happens at
render time for the default settings.

    pip install scikit-image==0.26.0 opencv-contrib-python && python models/avatar/prepare_default.py
"""

from pathlib import Path

import cv2
import skimage

SOURCE = Path(skimage.__file__).parent / "data" / "astronaut.png"
CROP = (0, 0, 512, 288)  # x, y, width, height: the face sits in the upper middle, shoulders below
SIZE = (1280, 720)


def main() -> None:
    image = cv2.imread(str(SOURCE), cv2.IMREAD_COLOR)
    x, y, w, h = CROP
    portrait = cv2.resize(image[y : y + h, x : x + w], SIZE, interpolation=cv2.INTER_LANCZOS4)
    cv2.imwrite(str(Path(__file__).with_name("default.png")), portrait, [cv2.IMWRITE_PNG_COMPRESSION, 9])


if __name__ == "__main__":
    main()
