// The blog post's three snippets in one file: see the README, "Allocation explorer".
let a: Vec<u8> = Vec::new();
let b: Box<Vec<u8>> = Box::new(Vec::new());
let mut c = Vec::new();
c.push(0);
