//! A labelled set of same-sized images held in memory as bytes: the common form every dataset
//! is turned into for training and evaluation. Classes belong to groups (Omniglot's alphabets);
//! Koch's different-pairs are drawn within a group.
use crate::error::{Error, Result};

#[derive(Clone, Debug)]
pub struct Class {
    pub name: String,
    pub group: usize,
    /// Indices of this class's images in the set.
    pub items: Vec<usize>,
}

#[derive(Clone, Debug)]
pub struct ImageSet {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pixels: Vec<u8>,
    pub classes: Vec<Class>,
    pub groups: Vec<String>,
}

impl ImageSet {
    pub fn new(height: usize, width: usize, channels: usize) -> Self {
        ImageSet { height, width, channels, pixels: Vec::new(), classes: Vec::new(), groups: Vec::new() }
    }

    pub fn image_len(&self) -> usize {
        self.height * self.width * self.channels
    }

    pub fn len(&self) -> usize {
        self.pixels.len() / self.image_len().max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }

    /// Appends an image (`height x width x channels` bytes) and returns its index.
    pub fn push_image(&mut self, pixels: &[u8]) -> Result<usize> {
        if pixels.len() != self.image_len() {
            return Err(Error::shape("image", format!("{}x{}x{} bytes", self.height, self.width, self.channels), pixels.len()));
        }
        self.pixels.extend_from_slice(pixels);
        Ok(self.len() - 1)
    }

    pub fn group(&mut self, name: &str) -> usize {
        match self.groups.iter().position(|g| g == name) {
            Some(i) => i,
            None => {
                self.groups.push(name.to_string());
                self.groups.len() - 1
            }
        }
    }

    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// The image as network input, bytes scaled to [0, 1].
    pub fn input(&self, i: usize, out: &mut [f32]) {
        for (o, v) in out.iter_mut().zip(self.image(i)) {
            *o = *v as f32 * (1.0 / 255.0);
        }
    }

    /// Indices of the classes with at least `min_items` images, grouped by their group (one list
    /// per group, in class order; a set without groups has one list).
    pub fn by_group(&self, min_items: usize) -> Vec<Vec<usize>> {
        let mut out: Vec<Vec<usize>> = vec![Vec::new(); self.groups.len().max(1)];
        let last = out.len() - 1;
        for (c, class) in self.classes.iter().enumerate().filter(|(_, c)| c.items.len() >= min_items) {
            out[class.group.min(last)].push(c);
        }
        out
    }

    /// How many items each class has, in class order (the sampler's view of the set).
    pub fn sizes(&self) -> Vec<usize> {
        self.classes.iter().map(|c| c.items.len()).collect()
    }
}
