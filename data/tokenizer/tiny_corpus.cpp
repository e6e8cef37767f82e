// The built-in English corpus the tiny tokenizers learn their merges from. Written for this project;
// plain descriptions of pictures and everyday scenes, like the captions and answers of image-text data.
#include "data/tokenizer/tiny_corpus.h"

namespace mha2mla::tokenizer {

const char* tiny_tokenizer_corpus() {
  return R"corpus(The picture shows a small red boat resting on the sand near the water. Two children are standing next to
the boat, and one of them is holding a yellow bucket. The sky is bright blue with a few white clouds, and the
sea in the background is calm. On the left side of the image there is a wooden pier that stretches into the
water, and several birds are sitting on its railing.

In this photo a woman is riding a bicycle along a quiet street in the early morning. She is wearing a green
jacket and a gray helmet. The houses on both sides of the street have tall windows and flower boxes. A black
cat is sleeping on the steps of the third house, and a delivery van is parked at the corner.

Question: What color is the car in the image?
Answer: The car in the image is white, and it is parked in front of a brick building.

Question: How many people are sitting at the table?
Answer: There are four people sitting at the table. Three of them are eating, and one is reading a newspaper.

Question: What is the man holding in his right hand?
Answer: The man is holding a cup of coffee in his right hand and a phone in his left hand.

The kitchen in the picture is clean and bright. There is a large window above the sink, and the sunlight
falls on a bowl of green apples on the counter. A kettle is on the stove, and a wooden cutting board with
bread and cheese lies next to it. The shelves on the wall hold plates, glasses and a row of jars with
different kinds of tea.

A group of students is walking through the park after school. Some of them carry heavy backpacks, and one
boy is bouncing a basketball as he walks. The trees have started to change color, so the leaves are orange,
red and yellow. In the distance you can see a fountain and a man selling ice cream from a small cart.

The chart in the image compares the number of visitors to the museum over the last five years. In the first
year there were about 12,000 visitors, in the second year 15,500, and in the third year the number rose to
21,300. After a small drop in the fourth year, the museum welcomed more than 25,000 people in the fifth year.
The title of the chart is written at the top, and the years are listed along the bottom.

This is a close view of a dog lying on a soft blue blanket. The dog has brown and white fur, long ears and a
shiny black nose. Its eyes are half closed, and it looks relaxed. A red ball and a chewed rope toy are lying
near its paws, and part of a green sofa can be seen at the edge of the frame.

The street market is busy on a sunny afternoon. Sellers stand behind tables covered with fresh fruit,
vegetables, bread and flowers. A woman is choosing tomatoes while her son points at a basket of strawberries.
Above the tables, colorful umbrellas protect the food from the sun, and a sign says that everything is
picked from local farms.

Describe the image in detail.
The image shows a mountain lake surrounded by tall pine trees. The water is very still, so the mountains and
the sky are reflected on its surface. A narrow path runs along the shore, and a wooden bench faces the lake.
Early morning light gives the peaks a soft pink color, and a thin layer of fog hangs over the water.

What is written on the sign?
The sign says "Open every day from 9 to 5" in large black letters, and below it there is a smaller line that
reads "Please keep the gate closed".

The train station in the photograph is crowded with travelers. A large clock hangs from the ceiling, showing
a quarter past eight. People are waiting on the platform with suitcases and bags, and a conductor in a dark
uniform is checking tickets. A train with silver cars is arriving on the right, and the lights of the
station are reflected on its windows.

There are three cups on the table: one is full of tea, one is empty, and one has been knocked over, so a
little water has spilled onto the white tablecloth. Next to the cups there is an open book, a pair of glasses
and a plate with two cookies. The scene looks like someone left in a hurry.

The diagram explains how water moves between the ocean, the air and the land. Arrows show that water
evaporates from the sea, forms clouds, falls as rain or snow, and then flows back to the sea through rivers.
Each step is labeled with a short word, and the sun is drawn in the top corner to show where the energy comes
from.
)corpus";
}

}  // namespace mha2mla::tokenizer
